"""Take the hook's spool records (<spool_dir>/hook/new/*.json) into the database.

A record is inserted (INSERT OR IGNORE on its id) and committed before its file is removed, so
a crash between the two only means the file is read again and ignored. Unreadable records, and
records whose fields are not what the hook writes (text, or a number for "received"), are moved
to hook/bad/ alone and logged, never silently dropped.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from pathlib import Path

from imip_gateway import db

log = logging.getLogger("imip_gateway.spool")
BATCH = 500
FIELDS = ("type", "point", "uid", "content_type", "old_content", "new_content", "actor")


def hook_dirs(spool_dir: Path) -> tuple[Path, Path, Path]:
    base = spool_dir / "hook"
    return base / "tmp", base / "new", base / "bad"


def pending_files(spool_dir: Path) -> list[Path]:
    _tmp, new, _bad = hook_dirs(spool_dir)
    try:
        with os.scandir(new) as entries:
            names = [e.name for e in entries if e.name.endswith(".json")]
    except FileNotFoundError:
        return []
    # Record ids start with the hook's time in ns: name order is arrival order.
    return [new / name for name in sorted(names)]


def _quarantine(path: Path, bad_dir: Path, why: str) -> None:
    log.error("spool record %s unreadable (%s): moved to %s", path.name, why, bad_dir)
    bad_dir.mkdir(parents=True, exist_ok=True)
    os.replace(path, bad_dir / path.name)


def _row(record) -> tuple:
    """The changes row of one record; ValueError for anything but the expected scalars (one bad
    record must be quarantined alone, not fail the batch's transaction over and over)."""
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        raise ValueError("no record id")
    for name in FIELDS:
        if not isinstance(record.get(name), (str, type(None))):
            raise ValueError(f"field {name!r} is a {type(record[name]).__name__}, not text")
    received = record.get("received")
    if received is not None and (isinstance(received, bool) or not isinstance(received, (int, float))):
        raise ValueError(f"field 'received' is a {type(received).__name__}, not a number")
    return (record["id"], float(received or time.time()), *(record.get(name) for name in FIELDS))


def ingest(conn: sqlite3.Connection, spool_dir: Path, limit: int = BATCH) -> int:
    """Move up to `limit` spool records into the `changes` table; return how many were taken."""
    files = pending_files(spool_dir)[:limit]
    if not files:
        return 0
    _tmp, _new, bad = hook_dirs(spool_dir)
    taken: list[Path] = []
    with db.transaction(conn):
        for path in files:
            try:
                row = _row(json.loads(path.read_bytes().decode("utf-8")))
            except FileNotFoundError:
                continue
            except (ValueError, UnicodeDecodeError) as exc:
                _quarantine(path, bad, str(exc))
                continue
            conn.execute(
                "INSERT OR IGNORE INTO changes (id, source, received, type, point, uid, content_type,"
                " old_content, new_content, actor) VALUES (?, 'hook', ?, ?, ?, ?, ?, ?, ?, ?)", row)
            taken.append(path)
    for path in taken:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    return len(taken)
