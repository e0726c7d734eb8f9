"""Send due jobs and keep them until SMTP says 250 (requirement 9).

- 250: the job is marked sent in the same breath (a crash before that commit resends once,
  with the same Message-ID);
- 5xx: the job fails for good and the attendee's SCHEDULE-STATUS=5.1 is queued for write-back;
- anything temporary: exponential backoff (retry_base_seconds doubling, at most an hour) until
  retry_days have passed since the job was created, then it fails like a 5xx. A connection,
  TLS or authentication failure stops the batch: the other jobs would fail the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import time
from dataclasses import dataclass

from imip_gateway import db
from imip_gateway.config import Config
from imip_gateway.outbound.itip import stamp
from imip_gateway.outbound.message import Envelope, build_message
from imip_gateway.outbound.smtp import Outcome, Submitter

log = logging.getLogger("imip_gateway.outbound")
MAX_BACKOFF = 3600.0
GAVE_UP_STATUS = "5.1"   # RFC 5546 §3.6: "Service unavailable"
REJECTED_STATUS = "5.1"


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    stopped: str | None = None   # why the batch stopped early (server unreachable, auth failed)


def backoff(attempts: int, base: float) -> float:
    return min(MAX_BACKOFF, base * (2 ** max(0, attempts - 1)))


def _record_smtp(conn: sqlite3.Connection, outcome: Outcome, now: float) -> None:
    db.set_meta(conn, "smtp.last_result", outcome.detail)
    db.set_meta(conn, "smtp.last_time", repr(now))
    db.set_meta(conn, "smtp.last_ok", "true" if outcome.ok else "false")
    if not outcome.ok:
        db.set_meta(conn, "smtp.last_error", outcome.detail)
        db.set_meta(conn, "smtp.last_error_time", repr(now))
    if outcome.login_ok is not None:
        db.set_meta(conn, "smtp.last_login_ok", "true" if outcome.login_ok else "false")
        db.set_meta(conn, "smtp.last_login_time", repr(now))


def envelope_for(cfg: Config, job: sqlite3.Row) -> Envelope:
    return Envelope(
        job_id=job["id"], message_id=job["message_id"], method=job["method"], reason=job["reason"],
        attendee=job["attendee"], organizer_name=job["organizer_name"] or "",
        organizer_address=job["organizer"].split(":", 1)[-1] if ":" in job["organizer"] else job["organizer"],
        token_address=cfg.invitations.token_address(job["token"]), from_address=cfg.invitations.address,
        site_name=cfg.gateway.site_name, instance_id=cfg.gateway.instance_id)


def due_jobs(conn: sqlite3.Connection, now: float, limit: int) -> list[sqlite3.Row]:
    """Pending jobs whose time has come, oldest first; a job waits while an older one for the same
    event and attendee is still pending (in backoff), so a CANCEL never overtakes its REQUEST."""
    return conn.execute(
        "SELECT * FROM jobs AS j WHERE j.state = 'pending' AND j.next_attempt <= ?"
        " AND NOT EXISTS (SELECT 1 FROM jobs AS e WHERE e.state = 'pending' AND e.uid = j.uid"
        " AND e.attendee = j.attendee AND (e.created < j.created OR (e.created = j.created AND e.id < j.id)))"
        " ORDER BY j.created, j.id LIMIT ?", (now, limit)).fetchall()


def retry_now(conn: sqlite3.Connection, now: float) -> int:
    """Make every pending job due now (an operator fixed the cause); returns how many waited."""
    with db.transaction(conn):
        return conn.execute("UPDATE jobs SET next_attempt = ? WHERE state = 'pending' AND next_attempt > ?",
                            (now, now)).rowcount


def record_login(conn: sqlite3.Connection, outcome: Outcome, now: float) -> None:
    """The result of a login without a message (Submitter.check_login) in the SMTP status."""
    with db.transaction(conn):
        if not outcome.ok:
            db.set_meta(conn, "smtp.last_error", outcome.detail)
            db.set_meta(conn, "smtp.last_error_time", repr(now))
        if outcome.login_ok is not None:
            db.set_meta(conn, "smtp.last_login_ok", "true" if outcome.login_ok else "false")
            db.set_meta(conn, "smtp.last_login_time", repr(now))


def _fail(conn, job, now: float, why: str, status: str) -> None:
    conn.execute("UPDATE jobs SET state = 'failed', last_error = ?, last_attempt = ? WHERE id = ?",
                 (why, now, job["id"]))
    conn.execute(
        "INSERT OR IGNORE INTO schedule_status (job_id, point, uid, organizer, attendee, status, next_attempt)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (job["id"], job["point"], job["uid"], job["organizer"], job["attendee"], status, now))


def drain(conn: sqlite3.Connection, cfg: Config, submitter: Submitter, *, limit: int = 1000,
          now_fn=time.time) -> DrainResult:
    result = DrainResult()
    for job in due_jobs(conn, now_fn(), limit):
        now = now_fn()
        moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
        envelope = envelope_for(cfg, job)
        try:
            message = build_message(envelope, stamp(job["calendar"], moment), now=moment,
                                    templates_dir=cfg.gateway.templates_dir,
                                    display=json.loads(job["display"]) if job["display"] else None)
        except Exception as exc:  # a job we cannot even render will never send
            with db.transaction(conn):
                _fail(conn, job, now, f"cannot build the message: {exc}", GAVE_UP_STATUS)
            log.error("job=%s uid=%s attendee=%s: cannot build the message: %s", job["id"], job["uid"],
                      job["attendee"], exc)
            result.failed += 1
            continue
        if log.isEnabledFor(logging.DEBUG):
            log.debug("job=%s message:\n%s", job["id"], message.as_string())
        outcome = submitter.send(message, cfg.invitations.address, envelope.attendee[len("mailto:"):])
        done = time.time()
        attendee = envelope.attendee[len("mailto:"):]
        with db.transaction(conn):
            _record_smtp(conn, outcome, done)
            if outcome.ok:
                conn.execute("UPDATE jobs SET state = 'sent', sent = ?, attempts = attempts + 1, last_attempt = ?,"
                             " last_error = NULL WHERE id = ?", (done, done, job["id"]))
            elif outcome.permanent:
                _fail(conn, job, done, outcome.detail, REJECTED_STATUS)
            else:
                attempts = job["attempts"] + 1
                if done - job["created"] > cfg.gateway.retry_days * 86400:
                    _fail(conn, job, done, f"gave up after {cfg.gateway.retry_days} days: {outcome.detail}",
                          GAVE_UP_STATUS)
                else:
                    conn.execute("UPDATE jobs SET attempts = ?, last_attempt = ?, last_error = ?, next_attempt = ?"
                                 " WHERE id = ?", (attempts, done, outcome.detail,
                                                   done + backoff(attempts, cfg.gateway.retry_base_seconds),
                                                   job["id"]))
        if outcome.ok:
            result.sent += 1
            log.info("sent message_id=%s job=%s %s uid=%s attendee=%s smtp=%s:%d: %s", job["message_id"],
                     job["id"], job["method"], job["uid"], attendee, cfg.smtp.host, cfg.smtp.port, outcome.detail)
        elif outcome.permanent:
            result.failed += 1
            log.error("rejected message_id=%s job=%s uid=%s attendee=%s: %s; SCHEDULE-STATUS=%s queued for the"
                      " organizer's event", job["message_id"], job["id"], job["uid"], attendee, outcome.detail,
                      REJECTED_STATUS)
        else:
            result.deferred += 1
            if outcome.auth_failed:
                # One clear line, no traceback; the jobs stay queued.
                log.error("%s; %d job(s) kept, retrying", outcome.detail, pending_count(conn))
            else:
                log.warning("deferred message_id=%s job=%s uid=%s attendee=%s (attempt %d): %s",
                            job["message_id"], job["id"], job["uid"], attendee, job["attempts"] + 1,
                            outcome.detail)
            if outcome.auth_failed or outcome.code is None or not 400 <= outcome.code < 500:
                # Server unreachable, TLS or authentication: every other job would fail alike.
                result.stopped = outcome.detail
                break
    return result


def pending_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM jobs WHERE state = 'pending'").fetchone()[0]
