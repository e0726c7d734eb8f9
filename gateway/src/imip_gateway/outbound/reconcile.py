"""Reconciliation by sync-collection (RFC 6578) on a timer.

The hook can miss changes (Radicale started without it, a full disk, a failing record), and
Radicale's WebDAV MOVE never calls it; every `reconcile_seconds` the gateway asks each calendar
what changed since its last sync-token and records those changes like hook notifications
(source "reconcile"). The snapshot table is the "old" side of every diff, so a change seen both
by the hook and here is mailed once.

Additions and changes of every calendar are recorded before any removal: a move between two of
the owner's calendars (MOVE, or PUT + DELETE the hook missed) then reaches planning as "same
event, new place" and sends no CANCEL. A removal whose UID the owner still has elsewhere (the
move happened between two calendars' sync requests) records that copy first, for the same reason.

The very first run only takes a baseline (every existing event is recorded, nothing is sent):
otherwise installing the gateway would re-invite everyone to everything. Baseline snapshots are
marked, so a hook notification that raced with the baseline is still mailed (changes.py).
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from dataclasses import dataclass, field

from imip_gateway import db
from imip_gateway.caldav_client import CalDAVClient, CalDAVError, InvalidSyncToken, SyncResult
from imip_gateway.ical import events, parse_calendar
from imip_gateway.outbound.schema import owner_of

log = logging.getLogger("imip_gateway.reconcile")
BASELINE_KEY = "reconcile.baseline_done"


@dataclass
class _Pass:
    conn: sqlite3.Connection
    caldav: CalDAVClient
    baseline: bool
    now: float
    counts: dict[str, int]
    deleted: set[tuple[str, str]] = field(default_factory=set)   # (point, uid) recorded as deleted
    added: set[tuple[str, str]] = field(default_factory=set)     # (point, uid) recorded as upserts
    listed: set[tuple[str, str]] = field(default_factory=set)    # (point, uid) stored by the baseline


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


def _sync(run: _Pass, collection: str) -> SyncResult:
    row = run.conn.execute("SELECT token FROM sync_state WHERE collection = ?", (collection,)).fetchone()
    # The baseline lists every calendar in full (_forget_unlisted relies on it).
    token = row["token"] if row and not run.baseline else None
    try:
        return run.caldav.sync_collection(collection, token)
    except InvalidSyncToken:
        log.warning("sync-token of %s expired: full resync", collection)
        return run.caldav.sync_collection(collection, None)


def _seen(run: _Pass, point: str, href: str, text: str, etag: str | None) -> str | None:
    """Record one item as it is now; returns its UID when it is new at this point."""
    uid = _uid(text)
    if uid is None:
        return None
    conn = run.conn
    with db.transaction(conn):
        if run.baseline:
            conn.execute(
                "INSERT INTO snapshots (point, owner, uid, content, href, etag, updated, baseline)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (point, uid) DO UPDATE SET content = excluded.content,"
                " href = excluded.href, etag = excluded.etag, updated = excluded.updated, baseline = 1",
                (point, owner_of(point), uid, text, href, etag, run.now))
            run.listed.add((point, uid))
            return None
        snapshot = conn.execute("SELECT content FROM snapshots WHERE point = ? AND uid = ?", (point, uid)).fetchone()
        if snapshot is None or snapshot["content"] != text:
            _record(conn, point, uid, "upsert", snapshot["content"] if snapshot else None, text, run.now)
            run.added.add((point, uid))
            run.counts["recorded"] += 1
            log.info("reconcile: %s changed without a hook notification (uid=%s)", href, uid)
        # Remember where the item lives and its ETag (the hook does not tell us the href).
        conn.execute("UPDATE snapshots SET href = ?, etag = ? WHERE point = ? AND uid = ?",
                     (href, etag, point, uid))
    return uid if snapshot is None else None


def _record_delete(run: _Pass, point: str, uid: str, content: str, why: str) -> None:
    if (point, uid) in run.deleted:
        return
    run.deleted.add((point, uid))
    with db.transaction(run.conn):
        _record(run.conn, point, uid, "delete", content, None, run.now)
    run.counts["recorded"] += 1
    log.info("reconcile: uid=%s in %s %s without a hook notification", uid, point, why)


def _vanished_copies(run: _Pass, point: str, uid: str) -> None:
    """The owner's UID is new at `point`: a copy we know at another point that is gone there was
    moved here (a MOVE before reconciliation learnt its href). Recorded after the addition."""
    others = run.conn.execute("SELECT point, content FROM snapshots WHERE owner = ? AND uid = ? AND point != ?",
                              (owner_of(point), uid, point)).fetchall()
    for other in others:
        try:
            there = run.caldav.find_by_uid(uid, [run.caldav.path(*other["point"].split("/"))])
        except CalDAVError as exc:
            if exc.status != 404:
                raise
            there = None  # the whole calendar is gone
        if there is None:
            _record_delete(run, other["point"], uid, other["content"], f"moved to {point}")


def _changed(run: _Pass, point: str, result: SyncResult) -> None:
    for href, etag in result.changed:
        known = run.conn.execute("SELECT etag FROM snapshots WHERE href = ?", (href,)).fetchone()
        if known is not None and etag and known["etag"] == etag:
            continue
        resource = run.caldav.get(href)
        if resource is None:
            continue
        new_uid = _seen(run, point, href, resource.text, resource.etag)
        if new_uid is not None:
            _vanished_copies(run, point, new_uid)


def _still_elsewhere(run: _Pass, point: str, uid: str) -> bool:
    """Whether the owner still has `uid` in another calendar (recording that copy if new to us)."""
    owner = owner_of(point)
    if any(u == uid and p != point and owner_of(p) == owner for p, u in run.added):
        return True
    other = run.conn.execute("SELECT 1 FROM snapshots WHERE owner = ? AND uid = ? AND point != ?",
                             (owner, uid, point)).fetchone()
    if other is not None:
        return True
    found = run.caldav.find_event(uid, owner) if owner else None
    if found is None:
        return False
    there = _point_of(run.caldav, found.href.rsplit("/", 1)[0])
    if there == point:
        return False
    _seen(run, there, found.href, found.text, found.etag)
    return True


def _removed(run: _Pass, point: str, result: SyncResult) -> None:
    if run.baseline:
        return
    for href in result.removed:
        snapshot = run.conn.execute("SELECT uid, content FROM snapshots WHERE href = ?", (href,)).fetchone()
        if snapshot is None:
            continue
        moved = _still_elsewhere(run, point, snapshot["uid"])
        _record_delete(run, point, snapshot["uid"], snapshot["content"],
                       "deleted, still in another of the owner's calendars" if moved else "deleted")


def _forget_unlisted(run: _Pass, points: set[str]) -> None:
    """The baseline listed every calendar in full: a snapshot it did not find there is an item
    that went away unseen (a MOVE before reconciliation learnt its href). Left in place, it would
    pass for "the owner still has this event" and swallow the CANCEL of a later real deletion."""
    with db.transaction(run.conn):
        for point in points:
            for row in run.conn.execute("SELECT uid FROM snapshots WHERE point = ?", (point,)).fetchall():
                if (point, row["uid"]) not in run.listed:
                    run.conn.execute("DELETE FROM snapshots WHERE point = ? AND uid = ?", (point, row["uid"]))


def run_once(conn: sqlite3.Connection, caldav: CalDAVClient) -> dict[str, int]:
    """One pass over every calendar; returns counts for the log."""
    run = _Pass(conn, caldav, db.get_meta(conn, BASELINE_KEY) is None, time.time(),
                {"collections": 0, "changed": 0, "removed": 0, "recorded": 0})
    synced = []
    for principal in caldav.list_principals():
        for collection in caldav.list_calendars(principal):
            result = _sync(run, collection)
            synced.append((collection, _point_of(caldav, collection), result))
            run.counts["collections"] += 1
            run.counts["changed"] += len(result.changed)
            run.counts["removed"] += len(result.removed)
    for _collection, point, result in synced:
        _changed(run, point, result)
    for _collection, point, result in synced:
        _removed(run, point, result)
    if run.baseline:
        _forget_unlisted(run, {point for _collection, point, _result in synced})
    # Sync-tokens move on only once everything they reported is recorded: a failed pass is repeated.
    with db.transaction(conn):
        for collection, _point, result in synced:
            conn.execute("INSERT INTO sync_state (collection, token, updated) VALUES (?, ?, ?) ON CONFLICT"
                         " (collection) DO UPDATE SET token = excluded.token, updated = excluded.updated",
                         (collection, result.token, run.now))
        if run.baseline:
            db.set_meta(conn, BASELINE_KEY, repr(run.now))
        db.set_meta(conn, "reconcile.last_run", repr(run.now))
    return run.counts
