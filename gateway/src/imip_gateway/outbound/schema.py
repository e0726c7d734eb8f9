"""Tables of the outbound half (registered with imip_gateway.db)."""

import uuid

from imip_gateway import db
from imip_gateway.addresses import to_calendar_address
from imip_gateway.outbound.message import message_id_for

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
    method TEXT NOT NULL,           -- REQUEST | CANCEL | REPLY
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


# SEQUENCE and staleness per attendee (what was last *mailed* to that attendee, recorded when
# the server accepted the message): a CANCEL to one attendee never makes another's reply stale.
# jobs.sequences holds the {recurrence key: SEQUENCE} a job mails, so the row can be written on 250.
# jobs.position is the job's place in its change's plan: jobs of one change are sent in planned
# order (created is the same for all of them; a random id must not decide).
db.register("outbound", 3, """
ALTER TABLE jobs ADD COLUMN sequences TEXT;
ALTER TABLE jobs ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
CREATE TABLE attendee_sequences (
    uid TEXT NOT NULL,
    recurrence_id TEXT NOT NULL,    -- '' for the master
    attendee TEXT NOT NULL,         -- mailto:, lower case
    sequence INTEGER NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (uid, recurrence_id, attendee)
);
""")


# An event is (organizer, UID), not (calendar, UID): moving it between the owner's calendars is
# a PUT in one and a DELETE in the other (either order), or a WebDAV MOVE that only
# reconciliation sees. snapshots.owner (the point's first segment) finds the owner's copy at
# another point; a tombstone keeps a deleted event (and the change whose CANCELs wait a short
# grace period) until the same owner puts the UID again or the CANCEL has gone out.
# snapshots.baseline marks what the first reconciliation pass stored: a hook notification
# then diffs against its own old content, so a change made during that pass is still mailed.
db.register("outbound", 4, """
ALTER TABLE snapshots ADD COLUMN owner TEXT;
ALTER TABLE snapshots ADD COLUMN baseline INTEGER NOT NULL DEFAULT 0;
UPDATE snapshots SET owner = CASE WHEN instr(point, '/') > 0 THEN substr(point, 1, instr(point, '/') - 1)
                                  ELSE point END;
CREATE INDEX snapshots_owner_uid ON snapshots (owner, uid);
CREATE TABLE tombstones (
    owner TEXT NOT NULL,
    uid TEXT NOT NULL,
    point TEXT NOT NULL,            -- where it was deleted
    content TEXT NOT NULL,          -- the event as it was
    change_id TEXT NOT NULL,        -- the delete, whose CANCEL jobs a re-appearance drops
    deleted REAL NOT NULL,
    PRIMARY KEY (owner, uid)
);
""")

# The send loop asks, for every due job, whether an earlier one for the same event and attendee
# is still pending: without this index each question scans the whole jobs table (a queue of
# 1,000 cost a million row reads per batch).
db.register("outbound", 5, "CREATE INDEX jobs_pending_event ON jobs (uid, attendee, state);")
# Scheduling between local users (outbound.local), one row per step, applied over CalDAV in
# planned order per (UID, attendee) and retried while CalDAV is down: a REQUEST or CANCEL the
# planner made for a local attendee (`calendar`: the iTIP object their copy follows, ORGANIZER the
# organizer's own address; `reask`: the recurrence keys whose PARTSTAT is asked again, JSON), or
# a REPLY, the attendee's answer in their copy (`calendar`: their copy; `answers`: JSON
# {recurrence key: PARTSTAT}) for the organizer's event.
db.register("outbound", 6, """
CREATE TABLE local_deliveries (
    id TEXT PRIMARY KEY,
    change_id TEXT NOT NULL,
    created REAL NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    method TEXT NOT NULL,           -- REQUEST | CANCEL | REPLY
    reason TEXT NOT NULL,           -- as jobs.reason; for a REPLY: answered | deleted
    uid TEXT NOT NULL,
    organizer TEXT NOT NULL,        -- mailto:, lower case
    attendee TEXT NOT NULL,         -- mailto:, lower case (for a REPLY: who answered)
    calendar TEXT NOT NULL,
    reask TEXT NOT NULL DEFAULT '[]',
    answers TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'pending',  -- pending | done | failed | dropped
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    last_attempt REAL,
    last_error TEXT,
    href TEXT,                      -- the attendee's copy, once written
    done REAL
);
CREATE INDEX local_deliveries_due ON local_deliveries (state, next_attempt);
CREATE INDEX local_deliveries_event ON local_deliveries (uid, attendee, state);
""")


def insert_job(conn, *, domain: str, change_id: str, created: float, position: int, method: str, reason: str,
               uid: str, point: str | None, organizer: str, organizer_name: str, attendee: str, token: str,
               calendar: str, display: str, sequences: str, due: float) -> tuple[str, str]:
    """One pending row of `jobs`; returns (job id, Message-ID), the Message-ID derived from the id
    (the same on every retry)."""
    job_id = uuid.uuid4().hex
    message_id = message_id_for(job_id, domain)
    conn.execute(
        "INSERT INTO jobs (id, change_id, created, position, method, reason, uid, point, organizer,"
        " organizer_name, attendee, token, calendar, display, sequences, message_id, state, attempts,"
        " next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?)",
        (job_id, change_id, created, position, method, reason, uid, point, organizer, organizer_name, attendee, token,
         calendar, display, sequences, message_id, due))
    return job_id, message_id


def owner_of(point: str | None) -> str | None:
    """The Radicale user a point (`alice/calendar`) belongs to."""
    return point.split("/", 1)[0] if point else None


# How long finished rows are kept (days): enough to follow an invitation in `status` and the
# database after the fact; the table must not grow with every change ever made.
KEEP_CHANGES_DAYS = 14
KEEP_JOBS_DAYS = 90
# A tombstone is needed only until its CANCELs have gone out (seconds to days with SMTP down);
# after that a re-appearing event is new anyway.
KEEP_TOMBSTONES_DAYS = 14


def prune(conn, now: float) -> tuple[int, int]:
    """Delete finished changes and jobs past their keeping time; return (changes, jobs) deleted."""
    changes = conn.execute("DELETE FROM changes WHERE state != 'new' AND processed < ?",
                           (now - KEEP_CHANGES_DAYS * 86400,)).rowcount
    conn.execute("DELETE FROM tombstones WHERE deleted < ?", (now - KEEP_TOMBSTONES_DAYS * 86400,))
    jobs = conn.execute("DELETE FROM jobs WHERE state IN ('sent', 'failed', 'dropped')"
                        " AND coalesce(sent, last_attempt, created) < ?"
                        " AND id NOT IN (SELECT job_id FROM schedule_status WHERE done IS NULL)",
                        (now - KEEP_JOBS_DAYS * 86400,)).rowcount
    conn.execute("DELETE FROM schedule_status WHERE done IS NOT NULL AND done < ?", (now - KEEP_JOBS_DAYS * 86400,))
    conn.execute("DELETE FROM local_deliveries WHERE state != 'pending' AND coalesce(done, last_attempt, created) < ?",
                 (now - KEEP_JOBS_DAYS * 86400,))
    return changes, jobs


def last_sent_sequence(conn, uid: str, recurrence_id: str = "", attendee: str | None = None) -> int | None:
    """The highest SEQUENCE mailed for (UID, RECURRENCE-ID key), or None.

    With `attendee` (the inbound stale check): what was last mailed to that attendee for that
    instance, falling back to their series (master) value for an instance never mailed on its
    own; None when nothing was ever mailed to them (jobs from before per-attendee records fall
    back to the event-wide value, as the stale check did then).
    """
    if attendee is not None:
        address = to_calendar_address(attendee)
        for key in dict.fromkeys((recurrence_id, "")):
            row = conn.execute("SELECT sequence FROM attendee_sequences WHERE uid = ? AND recurrence_id = ?"
                               " AND attendee = ?", (uid, key, address)).fetchone()
            if row:
                return row[0]
        known = conn.execute("SELECT 1 FROM attendee_sequences WHERE uid = ? LIMIT 1", (uid,)).fetchone()
        if known:
            return None
    row = conn.execute("SELECT sequence FROM sent_sequences WHERE uid = ? AND recurrence_id = ?",
                       (uid, recurrence_id)).fetchone()
    return row[0] if row else None
