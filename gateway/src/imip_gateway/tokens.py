"""Reply tokens: one random token per (organizer CUA, attendee, UID), as Apple's IMIP_TOKENS.

The token is str(uuid4()) (122 random bits). It goes into the token address
`<invite-local>+<token>@<domain>` that the outbound message puts into ORGANIZER and Reply-To;
the inbound half looks it up to know which organizer, attendee and event a reply is about, so
the attendee never has to be trusted from mail headers.

A token lives as long as its event: `token_ttl_days` count from the end of the event's last
instance (or from the last message, when that is later), and not at all while the event is an
open-ended series that still exists (a weekly meeting invited once is answered for years). When
the lifetime is over the token is kept as a tombstone (`Token.expired`), so a late reply can
still be forwarded to its organizer, and purged after another `token_ttl_days`.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass

from imip_gateway import db
from imip_gateway.addresses import to_calendar_address

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

# ttl_from: the moment token_ttl_days start counting (the end of the event's last instance, the
# last message, or the CANCEL that ended the event for this attendee); NULL while the event is an
# open-ended series. Tokens from before knew only their last use: they keep counting from it.
# expired: when the lifetime was found over (the token is a tombstone from then on).
db.register("tokens", 2, """
ALTER TABLE tokens ADD COLUMN ttl_from REAL;
ALTER TABLE tokens ADD COLUMN expired REAL;
UPDATE tokens SET ttl_from = accessed;
""")

DAY = 86400.0


@dataclass(frozen=True)
class Token:
    token: str
    organizer: str   # the organizer's CUA as stored on the event, e.g. mailto:alice@example.test
    attendee: str    # lower-cased mailto: address
    uid: str
    created: float   # Unix time
    accessed: float  # Unix time of the last message that used it
    expired: bool = False  # its lifetime is over: a tombstone, kept so a late reply can be forwarded


class TokenStore:
    """`ttl_days` (token_ttl_days) lets lookup() tell an expired token at once; without it only
    tokens already marked by expire() (once a day in the service) come back expired."""

    def __init__(self, conn: sqlite3.Connection, ttl_days: int | None = None, clock=time.time):
        self.conn = conn
        self.ttl_days = ttl_days
        self.clock = clock

    def token_for(self, organizer: str, attendee: str, uid: str, now: float | None = None, *,
                  event_end: float | None = None, open_ended: bool = False) -> str:
        """The token of this triple: reused if it exists (live again), else a new one.

        Its lifetime is renewed: counted from `event_end` (the end of the event's last instance)
        or `now`, whichever is later; never ending while `open_ended` (a series without end).
        """
        now = time.time() if now is None else now
        attendee = to_calendar_address(attendee)
        organizer = organizer.strip()
        ttl_from = None if open_ended else max(now, event_end if event_end is not None else now)
        # A savepoint works both inside and outside a caller's transaction.
        self.conn.execute("SAVEPOINT token_for")
        try:
            row = self.conn.execute(
                "SELECT token FROM tokens WHERE organizer = ? AND attendee = ? AND uid = ?",
                (organizer, attendee, uid)).fetchone()
            if row:
                token = row["token"]
                self.conn.execute("UPDATE tokens SET accessed = ?, ttl_from = ?, expired = NULL WHERE token = ?",
                                  (now, ttl_from, token))
            else:
                token = str(uuid.uuid4())
                self.conn.execute(
                    "INSERT INTO tokens (token, organizer, attendee, uid, created, accessed, ttl_from)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)", (token, organizer, attendee, uid, now, now, ttl_from))
        except BaseException:
            self.conn.execute("ROLLBACK TO token_for")
            self.conn.execute("RELEASE token_for")
            raise
        self.conn.execute("RELEASE token_for")
        return token

    def renew(self, tokens: list[str], now: float, *, event_end: float | None = None,
              open_ended: bool = False) -> None:
        """Give these tokens the lifetime of the event as it is now (its CANCEL was called off)."""
        ttl_from = None if open_ended else max(now, event_end if event_end is not None else now)
        for token in tokens:
            self.conn.execute("UPDATE tokens SET ttl_from = ?, expired = NULL WHERE token = ?", (ttl_from, token))

    def lookup(self, token: str) -> Token | None:
        """The token, also when its lifetime is over (then expired=True); None when unknown or purged."""
        row = self.conn.execute(
            "SELECT token, organizer, attendee, uid, created, accessed, ttl_from, expired FROM tokens WHERE token = ?",
            (token.strip().lower(),)).fetchone()
        if row is None:
            return None
        fields = dict(row)
        ttl_from, expired = fields.pop("ttl_from"), fields.pop("expired")
        over = ttl_from is not None and self.ttl_days is not None and ttl_from < self.clock() - self.ttl_days * DAY
        return Token(**fields, expired=expired is not None or over)

    def expire(self, now: float | None = None, ttl_days: int = 90) -> int:
        """Mark tokens whose lifetime is over as expired; purge those expired `ttl_days` ago.

        Returns how many were newly marked expired.
        """
        now = time.time() if now is None else now
        marked = self.conn.execute(
            "UPDATE tokens SET expired = ? WHERE expired IS NULL AND ttl_from IS NOT NULL AND ttl_from < ?",
            (now, now - ttl_days * DAY)).rowcount
        self.conn.execute("DELETE FROM tokens WHERE expired IS NOT NULL AND expired < ?", (now - ttl_days * DAY,))
        return marked
