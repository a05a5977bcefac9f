"""Parsers of the settings table: (setting name, raw value) -> typed value.

Each raises :class:`ConfigurationError` naming the setting for a value it cannot use, and
accepts its own output (so a value parsed once passes through again unchanged). They
know values, not features: this package imports nothing of the library but the error
type, so the settings table and every feature can import it without a cycle.
"""
