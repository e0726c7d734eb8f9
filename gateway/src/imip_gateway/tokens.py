"""Reply tokens: one random token per (organizer CUA, attendee, UID), as Apple's IMIP_TOKENS.

The token is str(uuid4()) (122 random bits). It goes into the token address
`<invite-local>+<token>@<domain>` that the outbound message puts into ORGANIZER and Reply-To;
the inbound half looks it up to know which organizer, attendee and event a reply is about, so
the attendee never has to be trusted from mail headers.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass

from imip_gateway import db

db.register("tokens", 1, """
CREATE TABLE tokens (
    token TEXT NOT NULL UNIQUE,
    organizer TEXT NOT NULL,
    attendee TEXT NOT NULL,
    uid TEXT NOT NULL,
    created REAL NOT NULL,
    accessed REAL NOT NULL,
    PRIMARY KEY (organizer, attendee, uid)
);
""")


@dataclass(frozen=True)
class Token:
    token: str
    organizer: str   # the organizer's CUA as stored on the event, e.g. mailto:alice@example.test
    attendee: str    # lower-cased mailto: address
    uid: str
    created: float   # Unix time
    accessed: float  # Unix time of the last message that used it


def normalize_attendee(address: str) -> str:
    """`MAILTO:Bob@Ext.Test` -> `mailto:bob@ext.test`."""
    address = address.strip()
    if address.lower().startswith("mailto:"):
        address = address[len("mailto:"):]
    return "mailto:" + address.lower()


class TokenStore:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def token_for(self, organizer: str, attendee: str, uid: str, now: float | None = None) -> str:
        """The token of this triple: reused if it exists (refreshing `accessed`), else a new one."""
        now = time.time() if now is None else now
        attendee = normalize_attendee(attendee)
        organizer = organizer.strip()
        # A savepoint works both inside and outside a caller's transaction.
        self.conn.execute("SAVEPOINT token_for")
        try:
            row = self.conn.execute(
                "SELECT token FROM tokens WHERE organizer = ? AND attendee = ? AND uid = ?",
                (organizer, attendee, uid)).fetchone()
            if row:
                token = row["token"]
                self.conn.execute("UPDATE tokens SET accessed = ? WHERE token = ?", (now, token))
            else:
                token = str(uuid.uuid4())
                self.conn.execute(
                    "INSERT INTO tokens (token, organizer, attendee, uid, created, accessed)"
                    " VALUES (?, ?, ?, ?, ?, ?)", (token, organizer, attendee, uid, now, now))
        except BaseException:
            self.conn.execute("ROLLBACK TO token_for")
            self.conn.execute("RELEASE token_for")
            raise
        self.conn.execute("RELEASE token_for")
        return token

    def lookup(self, token: str) -> Token | None:
        row = self.conn.execute(
            "SELECT token, organizer, attendee, uid, created, accessed FROM tokens WHERE token = ?",
            (token.strip().lower(),)).fetchone()
        return Token(**dict(row)) if row else None

    def expire(self, now: float | None = None, ttl_days: int = 90) -> int:
        """Delete tokens not used for `ttl_days`; return how many went."""
        now = time.time() if now is None else now
        cursor = self.conn.execute("DELETE FROM tokens WHERE accessed < ?", (now - ttl_days * 86400,))
        return cursor.rowcount
