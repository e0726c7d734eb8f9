"""`imip-gateway run`: the service.

- One running gateway per state directory: <state_dir>/gateway.lock is held (flock) for the
  whole run; a second `run` exits 1 naming the holder's pid (imip_gateway.statelock).
- Secrets are read once, here; both halves get the same clients: one Submitter (SMTP
  submission) and a CalDAV client factory (one client per thread).
- The main thread is the send loop (outbound.scheduler.Outbound, every spool_poll_ms): ingest
  spool records -> plan -> send due jobs -> token expiry once a day -> heartbeat.
- Thread "caldav": SCHEDULE-STATUS write-backs and reconciliation (outbound.scheduler.CalDAVWork).
- Thread "inbound", when [imap] host is set: imip_gateway.inbound.service.run.
Each thread has its own database connection. SIGTERM/SIGINT stop them all after the current
step; anything in flight is still in the database and resumes at the next start.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Callable

from imip_gateway import db, statelock, wake
from imip_gateway.caldav_client import CalDAVClient
from imip_gateway.config import Config
from imip_gateway.credentials import read_secret
from imip_gateway.inbound import service as inbound_service
from imip_gateway.outbound import delivery, refresh, schema, spool
from imip_gateway.outbound.scheduler import CalDAVWork, Outbound
from imip_gateway.submission import Submitter

log = logging.getLogger("imip_gateway.service")


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


def _thread(name: str, target, stop: threading.Event) -> threading.Thread:
    """A daemon thread; when `target` raises, the service stops (and exits non-zero)."""
    failed = {}

    def body():
        try:
            target(stop)
        # Reported as the service's exit status.
        except Exception as exc:  # pylint: disable=broad-exception-caught
            failed["error"] = exc
            log.exception("%s stopped: %s", name, exc)
            stop.set()

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.failed = failed  # type: ignore[attr-defined]
    thread.start()
    return thread


def _install_signals(stop: threading.Event) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(signum, lambda *_args: stop.set())
        except ValueError:  # not the main thread (tests)
            pass
    try:
        signal.signal(signal.SIGHUP, wake.request)  # `systemctl reload imip-gateway`: retry now
    except ValueError:
        pass


def _log_hook(cfg: Config) -> None:
    problem = check_hook_loaded(cfg)
    if problem:
        log.error("%s", problem)
        return
    marker = read_hook_marker(cfg) or {}
    log.info("Radicale hook loaded (pid %s at %s)", marker.get("pid"),
             time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(marker.get("time", 0))))


def _clients(cfg: Config) -> tuple[Submitter, Callable[[], CalDAVClient], str]:
    """Every secret read once, here: one Submitter shared by both halves, a CalDAV client
    factory (one client per thread), and the IMAP password ("" when inbound is off)."""
    smtp_password = read_secret(cfg.smtp.password_credential) if cfg.smtp.user else ""
    caldav_password = read_secret(cfg.caldav.password_credential)
    imap_password = read_secret(cfg.imap.password_credential) if cfg.imap.enabled else ""
    submitter = Submitter(cfg.smtp.host, cfg.smtp.port, cfg.smtp.user, smtp_password,
                          starttls=cfg.smtp.starttls, ca_file=cfg.smtp.ca_file,
                          timeout=cfg.smtp.timeout_seconds)

    def caldav() -> CalDAVClient:
        return CalDAVClient(cfg.caldav.url, cfg.caldav.user, caldav_password, ca_file=cfg.caldav.ca_file)
    return submitter, caldav, imap_password


def _serve(outbound: Outbound, stop: threading.Event, poll: float) -> None:
    while not stop.is_set():
        try:
            busy = outbound.step()
        # Keep serving; the state is in the database.
        except Exception as exc:  # pylint: disable=broad-exception-caught
            log.exception("outbound step failed: %s", exc)
            busy = False
            stop.wait(1.0)
        if not busy:
            stop.wait(poll)


def run(cfg: Config, stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    try:
        lock = statelock.acquire(cfg.gateway.state_dir)
    except statelock.LockError as exc:
        log.error("%s", exc)
        return 1
    try:
        return _run_locked(cfg, stop)
    finally:
        lock.release()


def _run_locked(cfg: Config, stop: threading.Event) -> int:
    _install_signals(stop)
    submitter, caldav_factory, imap_password = _clients(cfg)
    conn = db.connect(cfg.gateway.db_path)
    for directory in spool.hook_dirs(cfg.gateway.spool_dir)[:2]:
        directory.mkdir(parents=True, exist_ok=True)
    _log_hook(cfg)
    outbound = Outbound(cfg, conn, submitter)
    outbound.heartbeat(force=True)
    log.info("imip-gateway started: instance %s, %d job(s) pending, spool %s, SMTP %s:%d as %s",
             cfg.gateway.instance_id, delivery.pending_count(conn), cfg.gateway.spool_dir, cfg.smtp.host,
             cfg.smtp.port, cfg.smtp.user)
    threads = [_thread("caldav", CalDAVWork(cfg, db.connect(cfg.gateway.db_path), caldav_factory()).run, stop)]
    if cfg.imap.enabled:
        threads.append(_thread("inbound", lambda event: inbound_service.run(
            cfg, event, imap_password=imap_password, caldav=caldav_factory(), submitter=submitter,
            mailed_sequence=schema.last_sent_sequence,
            refresh=lambda conn, organizer, uid, attendee: refresh.queue_refresh(conn, cfg, organizer, uid, attendee)),
            stop))
    else:
        log.info("inbound: [imap] host not set, not reading replies")
    try:
        _serve(outbound, stop, cfg.gateway.spool_poll_ms / 1000.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        submitter.close()
        conn.close()
    if any(thread.failed for thread in threads):  # type: ignore[attr-defined]
        return 1
    log.info("imip-gateway stopped")
    return 0
