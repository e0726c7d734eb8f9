"""The inbound side's SQLite tables, registered as migrations of owner "inbound" in `imip_gateway.db`.

Each entry runs once, in its own transaction (version = position in MIGRATIONS, from 1); a new
table or column is a new entry at the end, never an edit of an old one.
"""

from imip_gateway import db

MIGRATIONS: list[str] = [
    # 1: messages seen (dedupe on Message-ID + body hash), their decision and hand-off state;
    #    per (organizer, UID, RECURRENCE-ID, attendee) the last applied reply (RFC 5546 §2.1.5);
    #    forwards sent (rate limit); IMAP bookkeeping; status values for `imip-gateway status`.
    """
    CREATE TABLE inbound_messages (
        key TEXT PRIMARY KEY,
        message_id TEXT NOT NULL,
        body_sha256 TEXT NOT NULL,
        uidvalidity INTEGER,
        imap_uid INTEGER,
        first_seen REAL NOT NULL,
        state TEXT NOT NULL,
        folder TEXT,
        outcome TEXT,
        reason TEXT,
        token TEXT,
        ical_uid TEXT,
        attendee TEXT,
        forward_kind TEXT,
        forward_details TEXT,
        forward_to TEXT,
        forward_state TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        updated REAL NOT NULL
    );
    CREATE INDEX inbound_messages_imap ON inbound_messages (uidvalidity, imap_uid);
    CREATE TABLE inbound_reply_state (
        organizer TEXT NOT NULL,
        ical_uid TEXT NOT NULL,
        recurrence_id TEXT NOT NULL,
        attendee TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        dtstamp TEXT,
        date_header TEXT,
        arrival TEXT,
        partstat TEXT,
        message_key TEXT NOT NULL,
        applied REAL NOT NULL,
        PRIMARY KEY (organizer, ical_uid, recurrence_id, attendee)
    );
    CREATE TABLE inbound_forwards (
        message_key TEXT PRIMARY KEY,
        organizer TEXT NOT NULL,
        sent REAL NOT NULL
    );
    CREATE INDEX inbound_forwards_organizer ON inbound_forwards (organizer, sent);
    CREATE TABLE inbound_imap (
        mailbox TEXT PRIMARY KEY,
        uidvalidity INTEGER NOT NULL,
        last_uid INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE inbound_status (
        name TEXT PRIMARY KEY,
        value TEXT,
        updated REAL NOT NULL
    );
    """,
]


for _version, _step in enumerate(MIGRATIONS, start=1):
    db.register("inbound", _version, _step)
