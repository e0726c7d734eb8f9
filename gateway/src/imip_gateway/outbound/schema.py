"""Tables of the outbound half (registered with imip_gateway.db)."""

from imip_gateway import db

db.register("outbound", 1, """
-- One row per change notification: from the hook's spool, or synthesized by reconciliation.
CREATE TABLE changes (
    id TEXT PRIMARY KEY,            -- the spool record id (or reconcile-<...>)
    source TEXT NOT NULL,           -- hook | reconcile
    received REAL NOT NULL,
    type TEXT,                      -- upsert | delete | cpatch
    point TEXT,                     -- user/collection
    uid TEXT,
    content_type TEXT,
    old_content TEXT,
    new_content TEXT,
    actor TEXT,
    state TEXT NOT NULL DEFAULT 'new',   -- new | done | ignored | error
    note TEXT,
    processed REAL
);
CREATE INDEX changes_state ON changes (state, id);

-- What the gateway last saw of each event (per collection and UID): the "old" side of the
-- next diff, so a change seen by both the hook and reconciliation is mailed once.
CREATE TABLE snapshots (
    point TEXT NOT NULL,
    uid TEXT NOT NULL,
    content TEXT NOT NULL,
    href TEXT,
    etag TEXT,
    updated REAL NOT NULL,
    PRIMARY KEY (point, uid)
);
CREATE INDEX snapshots_href ON snapshots (href);

-- One row per message to send: one method, one UID, one attendee.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    change_id TEXT NOT NULL,
    created REAL NOT NULL,
    method TEXT NOT NULL,           -- REQUEST | CANCEL
    reason TEXT NOT NULL,           -- new attendee | updated | removed | deleted | cancelled ...
    uid TEXT NOT NULL,
    point TEXT,
    organizer TEXT NOT NULL,        -- the organizer's CUA as on the event
    organizer_name TEXT,
    attendee TEXT NOT NULL,         -- mailto:, lower case
    token TEXT NOT NULL,
    calendar TEXT NOT NULL,         -- the iTIP object to mail (DTSTAMP is set at send time)
    message_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    last_attempt REAL,
    last_error TEXT,
    sent REAL
);
CREATE INDEX jobs_due ON jobs (state, next_attempt);

-- The SEQUENCE last mailed per (UID, RECURRENCE-ID): never goes backwards.
CREATE TABLE sent_sequences (
    uid TEXT NOT NULL,
    recurrence_id TEXT NOT NULL,    -- '' for the master
    sequence INTEGER NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (uid, recurrence_id)
);

-- SCHEDULE-STATUS write-backs still to do (CalDAV may be down when SMTP says 5xx).
CREATE TABLE schedule_status (
    job_id TEXT PRIMARY KEY,
    point TEXT,
    uid TEXT NOT NULL,
    organizer TEXT NOT NULL,
    attendee TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    last_error TEXT,
    done REAL
);

-- sync-collection state per calendar collection.
CREATE TABLE sync_state (
    collection TEXT PRIMARY KEY,
    token TEXT,
    updated REAL NOT NULL
);
""")

# What the human-readable part shows (summary, when, location, description) as JSON, computed
# when the job is made, so sending does not parse the calendar again.
db.register("outbound", 2, "ALTER TABLE jobs ADD COLUMN display TEXT;")


# How long finished rows are kept (days): enough to follow an invitation in `status` and the
# database after the fact; the table must not grow with every change ever made.
KEEP_CHANGES_DAYS = 14
KEEP_JOBS_DAYS = 90


def prune(conn, now: float) -> tuple[int, int]:
    """Delete finished changes and jobs past their keeping time; return (changes, jobs) deleted."""
    changes = conn.execute("DELETE FROM changes WHERE state != 'new' AND processed < ?",
                           (now - KEEP_CHANGES_DAYS * 86400,)).rowcount
    jobs = conn.execute("DELETE FROM jobs WHERE state IN ('sent', 'failed') AND coalesce(sent, last_attempt, created) < ?"
                        " AND id NOT IN (SELECT job_id FROM schedule_status WHERE done IS NULL)",
                        (now - KEEP_JOBS_DAYS * 86400,)).rowcount
    conn.execute("DELETE FROM schedule_status WHERE done IS NOT NULL AND done < ?", (now - KEEP_JOBS_DAYS * 86400,))
    return changes, jobs


def last_sent_sequence(conn, uid: str, recurrence_id: str = "") -> int | None:
    """The highest SEQUENCE mailed for (UID, RECURRENCE-ID key), or None (inbound uses it too)."""
    row = conn.execute("SELECT sequence FROM sent_sequences WHERE uid = ? AND recurrence_id = ?",
                       (uid, recurrence_id)).fetchone()
    return row[0] if row else None
