"""The gateway's state: one SQLite database in WAL mode, <state_dir>/gateway.db.

Each part of the gateway owns its tables and declares them as migrations in its own module:

    from imip_gateway import db
    db.register("inbound", 1, "CREATE TABLE inbound_messages (...)")

`connect()` imports the modules that register migrations (tokens, outbound.schema,
inbound.schema), then applies, in one transaction per migration, every registered step not yet
recorded in `schema_migrations(owner, version)`. Versions count up per owner, so the outbound
and inbound halves never collide.

The database holds reply tokens: it and its -wal/-shm files are mode 0600 whatever the umask
(a manual run as root must not leave them world-readable).

Connections are opened in autocommit mode (isolation_level=None): callers group writes with
`with db.transaction(conn):`, which is BEGIN IMMEDIATE ... COMMIT (or ROLLBACK on error), so a
crash leaves either all of a step or none of it. Each thread opens its own connection.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Union

Step = Union[str, Callable[[sqlite3.Connection], None]]

BUSY_TIMEOUT_MS = 10000


@dataclass(frozen=True)
class Migration:
    owner: str
    version: int
    step: Step


_MIGRATIONS: dict[tuple[str, int], Migration] = {}


def register(owner: str, version: int, step: Step) -> None:
    """Declare migration `version` of `owner`'s tables (SQL script or a function of a connection).

    Registering the same (owner, version) twice with the same step is allowed (module reloads);
    with a different step it is a programming error.
    """
    if version < 1:
        raise ValueError("migration versions start at 1")
    key = (owner, version)
    existing = _MIGRATIONS.get(key)
    if existing is not None and existing.step != step:
        raise ValueError(f"migration {owner} {version} registered twice with different steps")
    _MIGRATIONS[key] = Migration(owner, version, step)


def registered() -> list[Migration]:
    return sorted(_MIGRATIONS.values(), key=lambda m: (m.owner, m.version))


def migration_modules() -> tuple:
    """The modules that register migrations. Imported here, not at the top: each of them imports
    this module to register."""
    # pylint: disable=import-outside-toplevel,cyclic-import
    from imip_gateway import tokens
    from imip_gateway.inbound import schema as inbound_schema
    from imip_gateway.outbound import schema as outbound_schema
    return tokens, outbound_schema, inbound_schema


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT; ROLLBACK when the block raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection) -> list[Migration]:
    """Apply every registered migration not applied yet; return the ones applied now."""
    migration_modules()
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " owner TEXT NOT NULL, version INTEGER NOT NULL, applied REAL NOT NULL,"
        " PRIMARY KEY (owner, version))")
    applied_now = []
    for migration in registered():
        with transaction(conn):
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE owner = ? AND version = ?",
                (migration.owner, migration.version)).fetchone()
            if done:
                continue
            if callable(migration.step):
                migration.step(conn)
            else:
                # executescript() would COMMIT our transaction; run the statements one by one.
                for statement in _split_sql(migration.step):
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (owner, version, applied) VALUES (?, ?, ?)",
                         (migration.owner, migration.version, time.time()))
        applied_now.append(migration)
    return applied_now


def _split_sql(script: str) -> list[str]:
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement in migration: {current.strip()[:60]!r}")
    return statements


def _private(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it (SQLite gives the -wal and -shm files
    the database file's mode), and bring existing files from a wider mode down to 0600."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        try:
            os.chmod(f"{path}{suffix}", 0o600)
        except FileNotFoundError:
            pass


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch a new database to WAL (the mode persists in the file). SQLite answers "database is
    locked" at once, without its busy handler, when another connection holds the database while
    the mode changes, as the service and a CLI command or the hook do when they open a new
    database together: wait for it as for any other lock, up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def connect(path: Path | str, *, apply_migrations: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) the state database in WAL mode and bring its schema up to date."""
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _private(path)
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _use_wal(conn)
    # FULL: a job marked sent, or a spool record taken over, survives a power cut too.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    if apply_migrations:
        migrate(conn)
    return conn


def open_readonly(path: Path | str) -> sqlite3.Connection:
    """For `status`: read without creating or migrating anything."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(str(path))
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    return conn


def get_meta(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row["value"] if row else default


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))


register("core", 1, """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
""")
