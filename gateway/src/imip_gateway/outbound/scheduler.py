"""The outbound half's two loops inside `imip-gateway run`.

- `Outbound.step()`, the send loop (the service's main thread), each round: ingest spool records
  -> plan changes into jobs -> send due jobs -> token expiry and pruning once a day -> the
  service heartbeat (meta "service.heartbeat", at most every HEARTBEAT_EVERY seconds).
- `CalDAVWork.run()`, its own thread with its own database connection and CalDAV client:
  local attendees' copies (outbound.local), SCHEDULE-STATUS write-backs and reconciliation. A
  CalDAV server that hangs (up to the client's timeout per request) thus never delays an
  invitation.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from imip_gateway import db, wake
from imip_gateway.caldav_client import CalDAVClient
from imip_gateway.config import Config
from imip_gateway.outbound import changes, delivery, local, reconcile, schema, spool, writeback
from imip_gateway.submission import Submitter
from imip_gateway.tokens import TokenStore

log = logging.getLogger("imip_gateway.service")
SMTP_IDLE_CLOSE = 30.0
TOKEN_EXPIRY_EVERY = 86400.0
HEARTBEAT_EVERY = 5.0
BATCH = 100
CALDAV_POLL = 1.0        # write-backs are not urgent; a quiet thread costs one query a second
FIRST_RECONCILE = 5.0    # after the start: let the hook's backlog in first


class Outbound:
    def __init__(self, cfg: Config, conn: sqlite3.Connection, submitter: Submitter):
        self.cfg, self.conn, self.submitter = cfg, conn, submitter
        self.smtp_retry_at = 0.0
        self.smtp_failures = 0
        self.last_send = 0.0
        self.next_token_expiry = 0.0
        self.last_heartbeat = 0.0

    def step(self) -> bool:
        """One round; True when it did something (the loop then goes round again at once)."""
        busy = bool(spool.ingest(self.conn, self.cfg.gateway.spool_dir))
        if changes.process_pending(self.conn, self.cfg):
            busy = True
            local.QUEUED.set()  # committed: the CalDAV thread need not wait for its next poll
        if wake.take_outbound():
            self._retry_now()
        if time.time() >= self.smtp_retry_at and self._send():
            busy = True
        if self.last_send and time.time() - self.last_send > SMTP_IDLE_CLOSE:
            self.submitter.close()
            self.last_send = 0.0
        if time.time() >= self.next_token_expiry:
            self._expire_and_prune()
        self.heartbeat()
        return busy

    def heartbeat(self, force: bool = False) -> None:
        """meta "service.heartbeat": `imip-gateway status` tells a dead or wedged service by its age."""
        now = time.time()
        if force or now - self.last_heartbeat >= HEARTBEAT_EVERY:
            with db.transaction(self.conn):
                db.set_meta(self.conn, "service.heartbeat", repr(now))
            self.last_heartbeat = now

    def _retry_now(self) -> None:
        """SIGHUP: every pending job due now, the SMTP backoff forgotten."""
        conn = self.conn
        due = delivery.retry_now(conn, time.time())
        log.info("asked to retry now (SIGHUP): %d pending job(s) due, SMTP backoff reset", due)
        self.smtp_retry_at, self.smtp_failures = 0.0, 0
        if not delivery.pending_count(conn):
            # Nothing to send: log in anyway, so the status says whether the login works now.
            outcome = self.submitter.check_login()
            delivery.record_login(conn, outcome, time.time())
            log.log(logging.INFO if outcome.ok else logging.ERROR, "SMTP login check: %s", outcome.detail)

    def _send(self) -> bool:
        """One batch; True when the batch was full (more may be due)."""
        result = delivery.drain(self.conn, self.cfg, self.submitter, limit=BATCH)
        if result.sent or result.failed or result.deferred:
            self.last_send = time.time()
        if result.stopped:
            self.smtp_failures += 1
            wait = delivery.backoff(self.smtp_failures, self.cfg.gateway.retry_base_seconds)
            self.smtp_retry_at = time.time() + wait
            log.info("SMTP unavailable, next attempt in %.0f s", wait)
        elif result.sent:
            self.smtp_failures = 0
        return result.sent + result.failed + result.deferred >= BATCH

    def _expire_and_prune(self) -> None:
        cfg, conn = self.cfg, self.conn
        self.next_token_expiry = time.time() + TOKEN_EXPIRY_EVERY
        with db.transaction(conn):
            gone = TokenStore(conn).expire(time.time(), cfg.gateway.token_ttl_days)
            pruned = schema.prune(conn, time.time())
        if gone:
            log.info("%d reply token(s) expired (event over for %d days); late replies to them are forwarded"
                     " to the organizer for as many days again", gone, cfg.gateway.token_ttl_days)
        if any(pruned):
            log.info("pruned %d finished change(s) and %d finished job(s)", *pruned)


class CalDAVWork:
    """Local attendees' copies, SCHEDULE-STATUS write-backs and reconciliation, in their own thread."""

    def __init__(self, cfg: Config, conn: sqlite3.Connection, caldav: CalDAVClient):
        self.cfg, self.conn, self.caldav = cfg, conn, caldav
        self.next_reconcile = time.time() + FIRST_RECONCILE if cfg.caldav.reconcile_seconds else float("inf")

    def step(self) -> bool:
        busy = False
        try:
            busy = local.process(self.conn, self.caldav, base_seconds=self.cfg.gateway.retry_base_seconds) > 0
        # Logged; the next round tries again.
        except Exception as exc:  # pylint: disable=broad-exception-caught
            log.error("local attendees' copies failed: %s: %s", type(exc).__name__, exc)
            self.caldav.close()
        try:
            busy = writeback.process(self.conn, self.caldav, base_seconds=self.cfg.gateway.retry_base_seconds) > 0 or busy
        # Logged; the next round tries again.
        except Exception as exc:  # pylint: disable=broad-exception-caught
            log.error("SCHEDULE-STATUS write-back failed: %s: %s", type(exc).__name__, exc)
            self.caldav.close()
        if time.time() >= self.next_reconcile:
            self.next_reconcile = time.time() + self.cfg.caldav.reconcile_seconds
            self._reconcile()
        return busy

    def _reconcile(self) -> None:
        try:
            counts = reconcile.run_once(self.conn, self.caldav)
        # CalDAV down: try again next period.
        except Exception as exc:  # pylint: disable=broad-exception-caught
            detail = f"{type(exc).__name__}: {exc}"[:300]
            log.error("reconcile failed: %s", detail)
            self.caldav.close()
            with db.transaction(self.conn):
                db.set_meta(self.conn, "reconcile.last_error", detail)
                db.set_meta(self.conn, "reconcile.last_error_time", repr(time.time()))
            return
        log.info("reconcile: %(collections)d calendars, %(changed)d changed, %(removed)d removed, "
                 "%(recorded)d missed by the hook", counts)

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    busy = self.step()
                # E.g. the database busy.
                except Exception as exc:  # pylint: disable=broad-exception-caught
                    log.exception("CalDAV work failed: %s", exc)
                    busy = False
                if not busy:
                    # Until the poll interval ends, or the send loop planned work (local copies).
                    local.QUEUED.wait(CALDAV_POLL)
                    local.QUEUED.clear()
        finally:
            self.caldav.close()
            self.conn.close()
