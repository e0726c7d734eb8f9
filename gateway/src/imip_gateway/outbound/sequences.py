"""SEQUENCE never goes backwards per (UID, RECURRENCE-ID) (requirement 8, RFC 5546 §2.1.5).

Clients such as Thunderbird omit SEQUENCE or do not bump it on a significant change; the
gateway then bumps the mailed copy above the last value it sent and records it.
"""

from __future__ import annotations

import sqlite3

from imip_gateway.outbound.schema import last_sent_sequence


def decide(conn: sqlite3.Connection, uid: str, key: str, client_sequence: int, significant: bool) -> int:
    last = last_sent_sequence(conn, uid, key)
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
