"""Reconciliation by sync-collection (RFC 6578) on a timer (requirement 2).

The hook can miss changes (Radicale started without it, a full disk, a failing record); every
`reconcile_seconds` the gateway asks each calendar what changed since its last sync-token and
records those changes like hook notifications (source "reconcile"). The snapshot table is the
"old" side of every diff, so a change seen both by the hook and here is mailed once.

The very first run only takes a baseline (every existing event is recorded, nothing is sent):
otherwise installing the gateway would re-invite everyone to everything.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid

from imip_gateway import db
from imip_gateway.caldav_client import CalDAVClient, InvalidSyncToken
from imip_gateway.ical import events, parse_calendar

log = logging.getLogger("imip_gateway.reconcile")
BASELINE_KEY = "reconcile.baseline_done"


def _point_of(caldav: CalDAVClient, collection: str) -> str:
    relative = collection[len(caldav.base_path):] if collection.startswith(caldav.base_path) else collection
    return relative.strip("/")


def _uid(text: str) -> str | None:
    try:
        for component in events(parse_calendar(text)):
            if component.get("UID") is not None:
                return str(component.get("UID"))
    except ValueError:
        return None
    return None


def _record(conn, point: str, uid: str, kind: str, old: str | None, new: str | None, now: float) -> None:
    conn.execute(
        "INSERT INTO changes (id, source, received, type, point, uid, content_type, old_content, new_content)"
        " VALUES (?, 'reconcile', ?, ?, ?, ?, 'VCALENDAR', ?, ?)",
        (f"{time.time_ns()}-reconcile-{uuid.uuid4().hex[:12]}", now, kind, point, uid, old, new))


def run_once(conn: sqlite3.Connection, caldav: CalDAVClient) -> dict[str, int]:
    """One pass over every calendar; returns counts for the log."""
    now = time.time()
    baseline = db.get_meta(conn, BASELINE_KEY) is None
    counts = {"collections": 0, "changed": 0, "removed": 0, "recorded": 0}
    calendars = []
    for principal in caldav.list_principals():
        calendars.extend(caldav.list_calendars(principal))
    for collection in calendars:
        counts["collections"] += 1
        point = _point_of(caldav, collection)
        row = conn.execute("SELECT token FROM sync_state WHERE collection = ?", (collection,)).fetchone()
        token = row["token"] if row else None
        try:
            result = caldav.sync_collection(collection, token)
        except InvalidSyncToken:
            log.warning("sync-token of %s expired: full resync", collection)
            result = caldav.sync_collection(collection, None)
        counts["changed"] += len(result.changed)
        counts["removed"] += len(result.removed)
        for href, etag in result.changed:
            known = conn.execute("SELECT uid, etag FROM snapshots WHERE href = ?", (href,)).fetchone()
            if known is not None and etag and known["etag"] == etag:
                continue
            resource = caldav.get(href)
            if resource is None:
                continue
            uid = _uid(resource.text)
            if uid is None:
                continue
            with db.transaction(conn):
                snapshot = conn.execute("SELECT content FROM snapshots WHERE point = ? AND uid = ?",
                                        (point, uid)).fetchone()
                if baseline:
                    conn.execute(
                        "INSERT INTO snapshots (point, uid, content, href, etag, updated) VALUES (?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (point, uid) DO UPDATE SET content = excluded.content, href = excluded.href,"
                        " etag = excluded.etag, updated = excluded.updated",
                        (point, uid, resource.text, href, resource.etag, now))
                    continue
                if snapshot is None or snapshot["content"] != resource.text:
                    _record(conn, point, uid, "upsert", snapshot["content"] if snapshot else None,
                            resource.text, now)
                    counts["recorded"] += 1
                    log.info("reconcile: %s changed without a hook notification (uid=%s)", href, uid)
                # Remember where the item lives and its ETag (the hook does not tell us the href).
                conn.execute("UPDATE snapshots SET href = ?, etag = ? WHERE point = ? AND uid = ?",
                             (href, resource.etag, point, uid))
        for href in result.removed:
            with db.transaction(conn):
                snapshot = conn.execute("SELECT uid, content FROM snapshots WHERE href = ?", (href,)).fetchone()
                if snapshot is not None and not baseline:
                    _record(conn, point, snapshot["uid"], "delete", snapshot["content"], None, now)
                    counts["recorded"] += 1
                    log.info("reconcile: %s deleted without a hook notification (uid=%s)", href, snapshot["uid"])
        with db.transaction(conn):
            conn.execute("INSERT INTO sync_state (collection, token, updated) VALUES (?, ?, ?)"
                         " ON CONFLICT (collection) DO UPDATE SET token = excluded.token, updated = excluded.updated",
                         (collection, result.token, now))
    with db.transaction(conn):
        if baseline:
            db.set_meta(conn, BASELINE_KEY, repr(now))
        db.set_meta(conn, "reconcile.last_run", repr(now))
    return counts
