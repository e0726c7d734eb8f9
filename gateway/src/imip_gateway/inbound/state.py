"""Reads and writes of the inbound tables (schema.py). Every write commits before it returns:
a record here is the durable hand-off that lets the IMAP side move a message afterwards."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass

from imip_gateway import db

__all__ = [
    "AppliedReply",
    "MessageRecord",
    "InboundState",
    "message_key",
]


def message_key(message_id: str, body: bytes, recipient: str | None = None) -> tuple[str, str]:
    """(key, body hash): the same Message-ID with the same body is the same message, whatever
    the Received headers of its delivery say. A message handed over for a local user is one per
    recipient: an invitation to alice and bob comes as two copies, each to be applied."""
    body_hash = hashlib.sha256(body).hexdigest()
    scope = f"\0{recipient}" if recipient else ""
    key = hashlib.sha256(f"{message_id.strip()}\0{body_hash}{scope}".encode("utf-8", "replace")).hexdigest()
    return key, body_hash


@dataclass
class MessageRecord:
    key: str
    message_id: str
    state: str  # "processing" | "decided" | "filed"
    folder: str | None
    outcome: str | None
    reason: str | None
    token: str | None
    ical_uid: str | None
    attendee: str | None
    forward_kind: str | None
    forward_details: str | None
    forward_to: str | None
    forward_state: str | None  # None | "pending" | "sent" | "suppressed"
    attempts: int
    uidvalidity: int | None
    imap_uid: int | None


@dataclass
class AppliedReply:
    sequence: int
    dtstamp: str | None
    date_header: str | None
    arrival: str | None
    partstat: str | None
    message_key: str


_RECORD_COLUMNS = (
    "key, message_id, state, folder, outcome, reason, token, ical_uid, attendee, forward_kind, "
    "forward_details, forward_to, forward_state, attempts, uidvalidity, imap_uid"
)


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class InboundState:
    def __init__(self, conn: sqlite3.Connection, clock=time.time):
        self.conn = conn
        self.clock = clock

    # ------------------------------------------------------------------ messages
    def get(self, key: str) -> MessageRecord | None:
        row = self.conn.execute(f"SELECT {_RECORD_COLUMNS} FROM inbound_messages WHERE key = ?", (key,)).fetchone()
        return MessageRecord(*row) if row else None

    def begin(self, key: str, message_id: str, body_hash: str, imap_ref: tuple[int, int] | None) -> MessageRecord:
        """Record that processing starts (or restarts after a crash: attempts counts up)."""
        now = self.clock()
        uidvalidity, imap_uid = imap_ref if imap_ref else (None, None)
        with db.transaction(self.conn):
            self.conn.execute(
                "INSERT INTO inbound_messages (key, message_id, body_sha256, uidvalidity, imap_uid, "
                "first_seen, state, attempts, updated) VALUES (?, ?, ?, ?, ?, ?, 'processing', 1, ?) "
                "ON CONFLICT (key) DO UPDATE SET attempts = attempts + 1, updated = excluded.updated, "
                "uidvalidity = COALESCE(excluded.uidvalidity, uidvalidity), "
                "imap_uid = COALESCE(excluded.imap_uid, imap_uid)",
                (key, message_id, body_hash, uidvalidity, imap_uid, now, now))
        return self.get(key)

    def decide(self, key: str, *, folder: str, outcome: str, reason: str, token: str | None,
               ical_uid: str | None, attendee: str | None, forward_kind: str | None = None,
               forward_details: str | None = None, forward_to: str | None = None,
               applied: list[tuple[tuple[str, str, str, str], AppliedReply]] = ()) -> None:
        """The decision and the ordering state it implies, in one transaction."""
        now = self.clock()
        with db.transaction(self.conn):
            for (organizer, uid, rid, attendee_key), rec in applied:
                self.conn.execute(
                    "INSERT INTO inbound_reply_state (organizer, ical_uid, recurrence_id, attendee, sequence, "
                    "dtstamp, date_header, arrival, partstat, message_key, applied) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (organizer, ical_uid, recurrence_id, "
                    "attendee) DO UPDATE SET sequence = excluded.sequence, dtstamp = excluded.dtstamp, "
                    "date_header = excluded.date_header, arrival = excluded.arrival, "
                    "partstat = excluded.partstat, message_key = excluded.message_key, "
                    "applied = excluded.applied",
                    (organizer, uid, rid, attendee_key, rec.sequence, rec.dtstamp, rec.date_header,
                     rec.arrival, rec.partstat, rec.message_key, now))
            self.conn.execute(
                "UPDATE inbound_messages SET state = 'decided', folder = ?, outcome = ?, reason = ?, "
                "token = ?, ical_uid = ?, attendee = ?, forward_kind = ?, forward_details = ?, "
                "forward_to = ?, forward_state = ?, updated = ? WHERE key = ?",
                (folder, outcome, reason, token, ical_uid, attendee, forward_kind, forward_details,
                 forward_to, "pending" if forward_kind else None, now, key))

    def set_forward_state(self, key: str, state: str, organizer: str | None = None) -> None:
        now = self.clock()
        with db.transaction(self.conn):
            self.conn.execute("UPDATE inbound_messages SET forward_state = ?, updated = ? WHERE key = ?",
                              (state, now, key))
            if state == "sent" and organizer:
                self.conn.execute("INSERT OR IGNORE INTO inbound_forwards (message_key, organizer, sent) "
                                  "VALUES (?, ?, ?)", (key, organizer, now))

    def filed(self, key: str) -> None:
        with db.transaction(self.conn):
            self.conn.execute("UPDATE inbound_messages SET state = 'filed', updated = ? WHERE key = ?",
                              (self.clock(), key))

    def forwards_since(self, organizer: str, since: float) -> int:
        row = self.conn.execute("SELECT COUNT(*) FROM inbound_forwards WHERE organizer = ? AND sent >= ?",
                                (organizer, since)).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ ordering
    def last_applied(self, organizer: str, uid: str, rid: str, attendee: str) -> AppliedReply | None:
        row = self.conn.execute(
            "SELECT sequence, dtstamp, date_header, arrival, partstat, message_key FROM inbound_reply_state "
            "WHERE organizer = ? AND ical_uid = ? AND recurrence_id = ? AND attendee = ?",
            (organizer, uid, rid, attendee)).fetchone()
        return AppliedReply(*row) if row else None

    # ------------------------------------------------------------------ IMAP bookkeeping
    def mailbox(self, name: str) -> tuple[int, int] | None:
        row = self.conn.execute("SELECT uidvalidity, last_uid FROM inbound_imap WHERE mailbox = ?",
                                (name,)).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def set_mailbox(self, name: str, uidvalidity: int, last_uid: int) -> None:
        with db.transaction(self.conn):
            self.conn.execute(
                "INSERT INTO inbound_imap (mailbox, uidvalidity, last_uid) VALUES (?, ?, ?) "
                "ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
                "last_uid = excluded.last_uid", (name, uidvalidity, last_uid))

    # ------------------------------------------------------------------ status
    def set_status(self, **values) -> None:
        now = self.clock()
        with db.transaction(self.conn):
            for name, value in values.items():
                self.conn.execute(
                    "INSERT INTO inbound_status (name, value, updated) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated = excluded.updated",
                    (name, json.dumps(value), now))

    def status(self) -> dict:
        rows = self.conn.execute("SELECT name, value FROM inbound_status").fetchall()
        out = {}
        for name, value in rows:
            try:
                out[name] = json.loads(value)
            except (TypeError, ValueError):
                out[name] = value
        return out


def iso(value: dt.datetime | None) -> str | None:
    return _iso(value)
