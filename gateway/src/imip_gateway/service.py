"""`imip-gateway run`: the service loop.

One thread does the outbound work, in this order each round (every spool_poll_ms):
ingest spool records -> plan changes into jobs -> send due jobs -> SCHEDULE-STATUS write-backs
-> reconciliation when due -> token expiry once a day. The inbound half, when configured and
installed, runs in a second thread (`imip_gateway.inbound.service.run(cfg, stop_event)`), with
its own database connection. SIGTERM/SIGINT stop both after the current step; anything in
flight is still in the database and resumes at the next start.
"""

from __future__ import annotations

import importlib
import json
import logging
import signal
import threading
import time
from pathlib import Path

from imip_gateway import db, wake
from imip_gateway.caldav_client import CalDAVClient
from imip_gateway.config import Config
from imip_gateway.credentials import read_secret
from imip_gateway.outbound import changes, delivery, reconcile, schema, spool, writeback
from imip_gateway.outbound.smtp import Submitter
from imip_gateway.tokens import TokenStore

log = logging.getLogger("imip_gateway.service")
SMTP_IDLE_CLOSE = 30.0
TOKEN_EXPIRY_EVERY = 86400.0


def hook_marker(cfg: Config) -> Path:
    return cfg.gateway.spool_dir / "hook" / "loaded"


def read_hook_marker(cfg: Config) -> dict | None:
    try:
        return json.loads(hook_marker(cfg).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def check_hook_loaded(cfg: Config) -> str | None:
    """None when Radicale's hook has announced itself, else what is wrong (one line)."""
    marker = read_hook_marker(cfg)
    if marker is None:
        return (f"the Radicale hook has not loaded: {hook_marker(cfg)} is missing. Check Radicale's log for "
                f"'Hook \"imip_gateway.radicale_hook\" failed to load' (is imip-gateway installed in Radicale's "
                f"venv?); until it loads, changes are found only by reconciliation")
    return None


class Outbound:
    def __init__(self, cfg: Config, conn, submitter: Submitter, caldav: CalDAVClient | None):
        self.cfg, self.conn, self.submitter, self.caldav = cfg, conn, submitter, caldav
        self.smtp_retry_at = 0.0
        self.smtp_failures = 0
        self.last_send = 0.0
        self.next_reconcile = time.time() + 5.0 if cfg.caldav.reconcile_seconds else float("inf")
        self.next_token_expiry = 0.0

    def step(self) -> bool:
        """One round; True when it did something (the loop then goes round again at once)."""
        cfg, conn = self.cfg, self.conn
        busy = False
        if spool.ingest(self.conn, cfg.gateway.spool_dir):
            busy = True
        if changes.process_pending(conn, cfg):
            busy = True
        now = time.time()
        if wake.take_outbound():
            due = delivery.retry_now(conn, now)
            log.info("asked to retry now (SIGHUP): %d pending job(s) due, SMTP backoff reset", due)
            self.smtp_retry_at, self.smtp_failures = 0.0, 0
            if not delivery.pending_count(conn):
                # Nothing to send: log in anyway, so the status says whether the login works now.
                outcome = self.submitter.check_login()
                delivery.record_login(conn, outcome, time.time())
                log.log(logging.INFO if outcome.ok else logging.ERROR, "SMTP login check: %s", outcome.detail)
        if now >= self.smtp_retry_at:
            result = delivery.drain(conn, cfg, self.submitter, limit=100)
            if result.sent or result.failed:
                self.last_send = time.time()
                busy = busy or result.sent + result.failed >= 100
            if result.stopped:
                self.smtp_failures += 1
                wait = delivery.backoff(self.smtp_failures, cfg.gateway.retry_base_seconds)
                self.smtp_retry_at = time.time() + wait
                log.info("SMTP unavailable, next attempt in %.0f s", wait)
            elif result.sent:
                self.smtp_failures = 0
        if self.last_send and time.time() - self.last_send > SMTP_IDLE_CLOSE:
            self.submitter.close()
            self.last_send = 0.0
        if self.caldav is not None:
            try:
                writeback.process(conn, self.caldav, base_seconds=cfg.gateway.retry_base_seconds)
            except Exception as exc:
                log.error("SCHEDULE-STATUS write-back failed: %s: %s", type(exc).__name__, exc)
            if time.time() >= self.next_reconcile:
                self.next_reconcile = time.time() + cfg.caldav.reconcile_seconds
                try:
                    counts = reconcile.run_once(conn, self.caldav)
                    log.info("reconcile: %(collections)d calendars, %(changed)d changed, %(removed)d removed, "
                             "%(recorded)d missed by the hook", counts)
                except Exception as exc:  # CalDAV down: try again next period
                    log.error("reconcile failed: %s: %s", type(exc).__name__, exc)
                    self.caldav.close()
        if time.time() >= self.next_token_expiry:
            self.next_token_expiry = time.time() + TOKEN_EXPIRY_EVERY
            with db.transaction(conn):
                gone = TokenStore(conn).expire(time.time(), cfg.gateway.token_ttl_days)
                pruned = schema.prune(conn, time.time())
            if gone:
                log.info("expired %d reply token(s) unused for %d days", gone, cfg.gateway.token_ttl_days)
            if any(pruned):
                log.info("pruned %d finished change(s) and %d finished job(s)", *pruned)
        return busy


def _start_inbound(cfg: Config, stop: threading.Event) -> threading.Thread | None:
    if not cfg.imap.enabled:
        log.info("inbound: [imap] host not set, not reading replies")
        return None
    try:
        module = importlib.import_module("imip_gateway.inbound.service")
    except ModuleNotFoundError:
        log.warning("inbound: imip_gateway.inbound is not installed, not reading replies")
        return None
    failed = {}

    def target():
        try:
            module.run(cfg, stop)
        except Exception as exc:
            failed["error"] = exc
            log.exception("inbound stopped: %s", exc)
            stop.set()

    thread = threading.Thread(target=target, name="inbound", daemon=True)
    thread.failed = failed  # type: ignore[attr-defined]
    thread.start()
    return thread


def run(cfg: Config, stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(signum, lambda *_args: stop.set())
        except ValueError:  # not the main thread (tests)
            pass
    try:
        signal.signal(signal.SIGHUP, wake.request)  # `systemctl reload imip-gateway`: retry now
    except ValueError:
        pass
    smtp_password = read_secret(cfg.smtp.password_credential) if cfg.smtp.user else ""
    caldav_password = read_secret(cfg.caldav.password_credential)
    conn = db.connect(cfg.gateway.db_path)
    for directory in spool.hook_dirs(cfg.gateway.spool_dir)[:2]:
        directory.mkdir(parents=True, exist_ok=True)
    problem = check_hook_loaded(cfg)
    if problem:
        log.error("%s", problem)
    else:
        marker = read_hook_marker(cfg) or {}
        log.info("Radicale hook loaded (pid %s at %s)", marker.get("pid"),
                 time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(marker.get("time", 0))))
    submitter = Submitter(cfg.smtp.host, cfg.smtp.port, cfg.smtp.user, smtp_password,
                          starttls=cfg.smtp.starttls, ca_file=cfg.smtp.ca_file,
                          timeout=cfg.smtp.timeout_seconds)
    caldav = CalDAVClient(cfg.caldav.url, cfg.caldav.user, caldav_password, ca_file=cfg.caldav.ca_file)
    outbound = Outbound(cfg, conn, submitter, caldav)
    pending = delivery.pending_count(conn)
    log.info("imip-gateway started: instance %s, %d job(s) pending, spool %s, SMTP %s:%d as %s",
             cfg.gateway.instance_id, pending, cfg.gateway.spool_dir, cfg.smtp.host, cfg.smtp.port, cfg.smtp.user)
    inbound = _start_inbound(cfg, stop)
    poll = cfg.gateway.spool_poll_ms / 1000.0
    try:
        while not stop.is_set():
            try:
                busy = outbound.step()
            except Exception as exc:  # keep serving; the state is in the database
                log.exception("outbound step failed: %s", exc)
                busy = False
                stop.wait(1.0)
            if not busy:
                stop.wait(poll)
    finally:
        submitter.close()
        caldav.close()
        if inbound is not None:
            inbound.join(timeout=10)
        conn.close()
    if inbound is not None and inbound.failed:  # type: ignore[attr-defined]
        return 1
    log.info("imip-gateway stopped")
    return 0
