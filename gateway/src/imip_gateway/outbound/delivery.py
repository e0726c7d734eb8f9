"""Send due jobs and keep them until SMTP says 250.

- 250: the job is marked sent in the same breath (a crash before that commit resends once,
  with the same Message-ID); a paused queue is unpaused;
- 5xx to RCPT or DATA (or an address no server can carry): the job fails for good and the
  attendee's SCHEDULE-STATUS=5.1 is queued for write-back;
- anything temporary: exponential backoff (retry_base_seconds doubling, at most an hour) until
  retry_days have passed since the job was created, then it fails like a 5xx;
- a failure of the sender or the session (connection, TLS, AUTH, MAIL FROM refused, 4xx or
  5xx): the batch stops and the queue is paused (meta smtp.paused_reason / smtp.paused_since)
  instead of failing jobs: every other job would fail the same way.

Every job is isolated: an exception while building or sending one job fails or defers that job
(its error in jobs.last_error and the log), never the queue.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from email.message import Message

from imip_gateway import db
from imip_gateway.addresses import from_calendar_address, strip_mailto
from imip_gateway.config import Config
from imip_gateway.outbound import sequences
from imip_gateway.outbound.itip import stamp
from imip_gateway.outbound.message import Envelope, build_message
from imip_gateway.submission import Outcome, Submitter, flatten, smtp_address

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
    reply = job["method"] == "REPLY"  # a local user's answer (outbound.replies): from them, no token
    return Envelope(
        job_id=job["id"], message_id=job["message_id"], method=job["method"], reason=job["reason"],
        attendee=job["attendee"], organizer_name=job["organizer_name"] or "",
        organizer_address=strip_mailto(job["organizer"]),   # as on the event: case kept
        token_address="" if reply else cfg.invitations.token_address(job["token"]),
        from_address=strip_mailto(job["attendee"]) if reply else cfg.invitations.address,
        site_name=cfg.gateway.site_name, instance_id=cfg.gateway.instance_id)


def due_jobs(conn: sqlite3.Connection, now: float, limit: int) -> list[sqlite3.Row]:
    """Pending jobs whose time has come, in planned order: oldest change first, then the job's
    place in its change's plan (jobs.position), the id only as a last tie-break. A job waits
    while an earlier one (in that order) for the same event and attendee is still pending, so a
    CANCEL never overtakes the REQUEST before it, nor a series REQUEST an instance's CANCEL."""
    return conn.execute(
        "SELECT * FROM jobs AS j WHERE j.state = 'pending' AND j.next_attempt <= ?"
        " AND NOT EXISTS (SELECT 1 FROM jobs AS e WHERE e.state = 'pending' AND e.uid = j.uid"
        " AND e.attendee = j.attendee AND (e.created, e.position, e.id) < (j.created, j.position, j.id))"
        " ORDER BY j.created, j.position, j.id LIMIT ?", (now, limit)).fetchall()


def retry_now(conn: sqlite3.Connection, now: float) -> int:
    """Make every pending job due now (an operator fixed the cause); returns how many waited."""
    with db.transaction(conn):
        return conn.execute("UPDATE jobs SET next_attempt = ? WHERE state = 'pending' AND next_attempt > ?",
                            (now, now)).rowcount


def record_login(conn: sqlite3.Connection, outcome: Outcome, now: float) -> None:
    """The result of a login without a message (Submitter.check_login) in the SMTP status. It
    is made only with nothing queued: a working login then leaves nothing paused."""
    with db.transaction(conn):
        if outcome.ok:
            _unpause(conn)
        else:
            db.set_meta(conn, "smtp.last_error", outcome.detail)
            db.set_meta(conn, "smtp.last_error_time", repr(now))
        if outcome.login_ok is not None:
            db.set_meta(conn, "smtp.last_login_ok", "true" if outcome.login_ok else "false")
            db.set_meta(conn, "smtp.last_login_time", repr(now))


def _fail(conn, job, now: float, why: str, status: str) -> None:
    conn.execute("UPDATE jobs SET state = 'failed', last_error = ?, last_attempt = ? WHERE id = ?",
                 (why, now, job["id"]))
    if job["method"] == "REPLY":
        return  # SCHEDULE-STATUS is the organizer's; the failed REPLY shows in the status report
    conn.execute(
        "INSERT OR IGNORE INTO schedule_status (job_id, point, uid, organizer, attendee, status, next_attempt)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (job["id"], job["point"], job["uid"], job["organizer"], job["attendee"], status, now))


def _pause(conn: sqlite3.Connection, outcome: Outcome, now: float) -> None:
    """The queue waits for the sender or the session to be fixed (status shows why and since when)."""
    db.set_meta(conn, "smtp.paused_reason", outcome.detail)
    if not db.get_meta(conn, "smtp.paused_since"):
        db.set_meta(conn, "smtp.paused_since", repr(now))


def _unpause(conn: sqlite3.Connection) -> None:
    if db.get_meta(conn, "smtp.paused_reason"):
        db.set_meta(conn, "smtp.paused_reason", "")
        db.set_meta(conn, "smtp.paused_since", "")


def _build(cfg: Config, job: sqlite3.Row, now: float) -> Message:
    moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    return build_message(envelope_for(cfg, job), stamp(job["calendar"], moment), now=moment,
                         templates_dir=cfg.gateway.templates_dir,
                         display=json.loads(job["display"]) if job["display"] else None)


def _submit(cfg: Config, submitter: Submitter, job: sqlite3.Row, message: Message) -> Outcome:
    """Send one job's message; whatever goes wrong is this job's outcome, never an exception.

    The envelope sender is the job's token address: a bounce that is not a DSN still reaches
    the gateway with the token (the From header stays the invitation address). A REPLY goes from
    the local user who answered to the organizer, and its bounce to that user."""
    if job["method"] == "REPLY":
        sender = smtp_address(strip_mailto(job["attendee"]))
        recipient = smtp_address(from_calendar_address(job["organizer"]))
    else:
        sender = cfg.invitations.token_address(job["token"])
        recipient = smtp_address(strip_mailto(job["attendee"]))
    try:
        return submitter.send(message, sender, recipient)
    # A bug must cost one job, not the queue.
    except Exception as exc:  # pylint: disable=broad-exception-caught
        log.error("job=%s uid=%s attendee=%s: sending failed: %s: %s", job["id"], job["uid"], job["attendee"],
                  type(exc).__name__, exc, exc_info=True)
        submitter.close()   # the session's state is unknown now
        return Outcome(False, False, None, f"sending failed: {type(exc).__name__}: {exc}")


def _record(conn: sqlite3.Connection, cfg: Config, job: sqlite3.Row, outcome: Outcome, done: float) -> None:
    """The outcome in the job's row, in one transaction with the SMTP status."""
    with db.transaction(conn):
        _record_smtp(conn, outcome, done)
        if outcome.ok:
            _unpause(conn)
            conn.execute("UPDATE jobs SET state = 'sent', sent = ?, attempts = attempts + 1, last_attempt = ?,"
                         " last_error = NULL WHERE id = ? AND state = 'pending'", (done, done, job["id"]))
            # (An operator's `drop` during the send keeps the job dropped.)
            try:
                sequences.record_mailed(conn, job, done)
            except (TypeError, ValueError) as exc:   # a bad row must not make the job be sent again
                log.error("job=%s: SEQUENCE not recorded: %s", job["id"], exc)
            return
        if outcome.session:
            _pause(conn, outcome, done)
        if outcome.permanent:
            _fail(conn, job, done, outcome.detail, REJECTED_STATUS)
        elif done - job["created"] > cfg.gateway.retry_days * 86400:
            _fail(conn, job, done, f"gave up after {cfg.gateway.retry_days} days: {outcome.detail}", GAVE_UP_STATUS)
        else:
            attempts = job["attempts"] + 1
            conn.execute("UPDATE jobs SET attempts = ?, last_attempt = ?, last_error = ?, next_attempt = ?"
                         " WHERE id = ?", (attempts, done, outcome.detail,
                                           done + backoff(attempts, cfg.gateway.retry_base_seconds), job["id"]))


def _log_outcome(conn: sqlite3.Connection, cfg: Config, job: sqlite3.Row, outcome: Outcome) -> None:
    attendee = strip_mailto(job["attendee"])
    if outcome.ok:
        log.info("sent message_id=%s job=%s %s uid=%s attendee=%s smtp=%s:%d: %s", job["message_id"],
                 job["id"], job["method"], job["uid"], attendee, cfg.smtp.host, cfg.smtp.port, outcome.detail)
    elif outcome.permanent:
        log.error("rejected message_id=%s job=%s uid=%s attendee=%s: %s; SCHEDULE-STATUS=%s queued for the"
                  " organizer's event", job["message_id"], job["id"], job["uid"], attendee, outcome.detail,
                  REJECTED_STATUS)
    elif outcome.session:
        # One clear line, no traceback; the jobs stay queued.
        log.error("%s; sending paused, %d job(s) kept, retrying", outcome.detail, pending_count(conn))
    else:
        log.warning("deferred message_id=%s job=%s uid=%s attendee=%s (attempt %d): %s", job["message_id"],
                    job["id"], job["uid"], attendee, job["attempts"] + 1, outcome.detail)


def _send_job(conn: sqlite3.Connection, cfg: Config, submitter: Submitter, job: sqlite3.Row,
              now_fn) -> Outcome:
    now = now_fn()
    try:
        message = _build(cfg, job, now)
    # A job we cannot even render will never send.
    except Exception as exc:  # pylint: disable=broad-exception-caught
        with db.transaction(conn):
            _fail(conn, job, now, f"cannot build the message: {type(exc).__name__}: {exc}", GAVE_UP_STATUS)
        log.error("job=%s uid=%s attendee=%s: cannot build the message: %s: %s", job["id"], job["uid"],
                  job["attendee"], type(exc).__name__, exc)
        return Outcome(False, True, None, f"cannot build the message: {exc}")
    if log.isEnabledFor(logging.DEBUG):
        log.debug("job=%s message:\n%s", job["id"], flatten(message).decode("utf-8", "replace"))
    outcome = _submit(cfg, submitter, job, message)
    _record(conn, cfg, job, outcome, time.time())
    _log_outcome(conn, cfg, job, outcome)
    return outcome


def _isolate(conn: sqlite3.Connection, cfg: Config, job: sqlite3.Row, exc: Exception) -> Outcome | None:
    """Defer a job that raised (with backoff, the error in jobs.last_error); None when even that
    cannot be written (the database failed: the service loop tries again later)."""
    log.error("job=%s uid=%s attendee=%s: %s: %s", job["id"], job["uid"], job["attendee"], type(exc).__name__,
              exc, exc_info=not isinstance(exc, sqlite3.Error))
    outcome = Outcome(False, False, None, f"internal error: {type(exc).__name__}: {exc}"[:300])
    try:
        _record(conn, cfg, job, outcome, time.time())
    except sqlite3.Error as again:
        log.error("job=%s: cannot record the error: %s", job["id"], again)
        return None
    return outcome


def drain(conn: sqlite3.Connection, cfg: Config, submitter: Submitter, *, limit: int = 1000,
          now_fn=time.time) -> DrainResult:
    """Send due jobs, each on its own: one job's failure, whatever it is, never stops the others.
    Only a failure of the sender or the session (Outcome.session) stops the batch and pauses."""
    result = DrainResult()
    for job in due_jobs(conn, now_fn(), limit):
        try:
            outcome = _send_job(conn, cfg, submitter, job, now_fn)
        # A bug costs this job, not the queue.
        except Exception as exc:  # pylint: disable=broad-exception-caught
            outcome = _isolate(conn, cfg, job, exc)
            if outcome is None:
                result.stopped = f"database error: {exc}"
                break
        if outcome.ok:
            result.sent += 1
        elif outcome.permanent:
            result.failed += 1
        else:
            result.deferred += 1
            if outcome.session:
                result.stopped = outcome.detail
                break
    return result


def pending_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM jobs WHERE state = 'pending'").fetchone()[0]
