"""The package version, a constant so that importing the package reads no metadata.

Reading it from the installed distribution (``importlib.metadata``) cost about 15 ms of
every ``import autobot_apm``. tests/test_import_cost.py checks that this constant agrees
with ``pyproject.toml`` and with the installed distribution's metadata.
"""

VERSION = "0.1.0.dev0"
