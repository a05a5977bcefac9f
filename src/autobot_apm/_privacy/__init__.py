"""Sanitizers and redactors: the SQL lexer and summary, Redis commands, URLs, headers and
client addresses.
"""
