"""Which SQL dialect a ``db.system.name`` speaks, as far as hiding literals is concerned.

Three things change where a literal starts and ends: whether ``"..."`` is a string
(MySQL) or a name, whether ``#`` opens a comment (MySQL) or is an operator or part of a
name (PostgreSQL, SQL Server), and whether ``/* */`` comments nest (PostgreSQL, SQL
Server) or end at the first ``*/`` (MySQL, SQLite, Oracle). An unknown system is read
under every reading at once: where the readings disagree, nothing after is kept.

    >>> dialect_of("MySQL"), dialect_of(" postgres "), dialect_of("teradata")
    ('mysql', 'nested', 'generic')
"""

from __future__ import annotations

from typing import Final

GENERIC: Final = "generic"  # unknown: cut wherever the dialects would disagree
GENERIC_DOUBLE_QUOTED: Final = "generic_double_quoted"  # the same, with "..." strings
MYSQL: Final = "mysql"  # "..." strings, # comments, flat /* */, `-- ` needs a space
NESTED: Final = "nested"  # # is no comment, /* */ nest: PostgreSQL, SQL Server
FLAT: Final = "flat"  # # is no comment, /* */ do not nest: SQLite, Oracle
DIALECTS: Final = (GENERIC, GENERIC_DOUBLE_QUOTED, MYSQL, NESTED, FLAT)

# db.system.name values (semconv) and the spellings users write, lower case.
_SYSTEMS: Final = {
    MYSQL: "mysql mariadb tidb singlestore memsql percona vitess planetscale oceanbase "
    "starrocks doris aws.aurora.mysql aurora-mysql pymysql mysqldb mysqlclient aiomysql "
    "asyncmy mysql2",
    NESTED: "postgresql postgres pg pgsql psycopg psycopg2 asyncpg aws.aurora.postgresql "
    "aurora-postgresql greenplum timescaledb yugabytedb microsoft.sql_server mssql "
    "sqlserver sql_server pyodbc pymssql",
    FLAT: "sqlite sqlite3 aiosqlite oracle.db oracle oracledb cx_oracle",
}
_DIALECT_OF_SYSTEM: Final = {
    system: dialect for dialect, systems in _SYSTEMS.items() for system in systems.split()
}
_MAX_SYSTEM_LENGTH = 64  # a name longer than any known one is read no further


def dialect_of(system: object, double_quoted_strings: bool = False) -> str:
    """The dialect of ``system``, matched ignoring case and surrounding spaces."""
    name = system[:_MAX_SYSTEM_LENGTH].strip().lower() if isinstance(system, str) else ""
    dialect = _DIALECT_OF_SYSTEM.get(name)
    if dialect is None:
        return GENERIC_DOUBLE_QUOTED if double_quoted_strings else GENERIC
    if double_quoted_strings and dialect != MYSQL:
        return GENERIC_DOUBLE_QUOTED  # asked for "..." strings in a dialect without them
    return dialect
