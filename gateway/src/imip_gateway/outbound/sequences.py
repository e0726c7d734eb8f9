"""SEQUENCE never goes backwards per (UID, RECURRENCE-ID) (RFC 5546 §2.1.5).

Clients such as Thunderbird omit SEQUENCE or do not bump it on a significant change; the
gateway then bumps the mailed copy above the last value it sent and records it.
"""

from __future__ import annotations

import json
import sqlite3

from imip_gateway.outbound.schema import last_sent_sequence


def decide(conn: sqlite3.Connection, uid: str, key: str, client_sequence: int, significant: bool) -> int:
    last = last_sent_sequence(conn, uid, key)
    if key:
        # An instance is never mailed below the series it belongs to: an attendee holding the
        # series at SEQUENCE 3 ignores a CANCEL of one instance at SEQUENCE 0 (RFC 5546 §2.1.5).
        series = last_sent_sequence(conn, uid, "")
        if series is not None and (last is None or series > last):
            last = series
    if last is None:
        return client_sequence
    if significant and client_sequence <= last:
        return last + 1
    return max(client_sequence, last)


def record(conn: sqlite3.Connection, uid: str, key: str, sequence: int, now: float) -> None:
    conn.execute(
        "INSERT INTO sent_sequences (uid, recurrence_id, sequence, updated) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (uid, recurrence_id) DO UPDATE SET sequence = max(sequence, excluded.sequence),"
        " updated = excluded.updated", (uid, key, sequence, now))


def record_mailed(conn: sqlite3.Connection, job: sqlite3.Row, now: float) -> None:
    """The server accepted `job`: its attendee now holds these SEQUENCEs (jobs.sequences JSON).

    Called in the transaction that marks the job sent. Per attendee and instance the value only
    goes up, like sent_sequences.
    """
    try:
        mailed = json.loads(job["sequences"] or "{}")
    except (TypeError, ValueError, IndexError, KeyError):
        return
    for key, sequence in mailed.items():
        conn.execute(
            "INSERT INTO attendee_sequences (uid, recurrence_id, attendee, sequence, updated) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (uid, recurrence_id, attendee) DO UPDATE SET"
            " sequence = max(sequence, excluded.sequence), updated = excluded.updated",
            (job["uid"], key, job["attendee"], int(sequence), now))
