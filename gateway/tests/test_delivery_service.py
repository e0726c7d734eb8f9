"""The service around delivery: one gateway per state directory (a second `run` is
refused, naming the first), the heartbeat and reconciliation errors in the status data, CalDAV
work in its own thread (a hanging CalDAV server never delays an invitation), write-back and
spool failures isolated, the database private whatever the umask."""

import http.server
import json
import logging
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time

import pytest
from conftest import SECRETS, STOP_SECONDS, event_ics, free_port, wait_for

from imip_gateway import db, service
from imip_gateway.caldav_client import CalDAVClient
from imip_gateway.outbound import spool, writeback


def _start(cfg):
    stop = threading.Event()
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("rc", service.run(cfg, stop)), daemon=True)
    thread.start()
    return stop, thread, result


def _meta(cfg, key):
    try:
        conn = db.open_readonly(cfg.gateway.db_path)
    except FileNotFoundError:   # not created yet
        return None
    try:
        return db.get_meta(conn, key)
    except sqlite3.OperationalError:   # no tables yet
        return None
    finally:
        conn.close()


# ---------------------------------------------------------------- item 7: one gateway per state directory
def test_a_second_run_is_refused_naming_the_running_one(make_config, smtp_server, caplog):
    cfg = make_config(smtp_port=smtp_server.port)
    lock_file = cfg.gateway.state_dir / "gateway.lock"
    stop, thread, result = _start(cfg)
    try:
        wait_for(lambda: lock_file.exists() and lock_file.read_text().strip() == str(os.getpid()),
                 what="the lock held by the running gateway")
        # A second run in this process: refused before it touches anything.
        assert service.run(cfg, threading.Event()) == 1
        assert f"another imip-gateway (pid {os.getpid()}) is already running with the state directory " \
               f"{cfg.gateway.state_dir}" in caplog.text
        # `imip-gateway run` by hand beside the unit: exits non-zero with the same clear error.
        second = subprocess.run([sys.executable, "-m", "imip_gateway", "run", "--config", str(cfg.path)],
                                capture_output=True, text=True, env=os.environ, timeout=60, check=False)
        assert second.returncode == 1
        assert f"(pid {os.getpid()})" in second.stderr and str(cfg.gateway.state_dir) in second.stderr
        assert "imip-gateway started" not in second.stderr
    finally:
        stop.set()
        thread.join(10)
    assert result["rc"] == 0
    # Stopped: the next run starts (the lock is the kernel's, never a stale file).
    log_path = cfg.gateway.state_dir.parent / "third.log"
    with open(log_path, "wb") as log_file:
        third = subprocess.Popen([sys.executable, "-m", "imip_gateway", "run", "--config", str(cfg.path)],
                                 stdout=log_file, stderr=subprocess.STDOUT, env=os.environ)
    try:
        wait_for(lambda: "imip-gateway started" in log_path.read_text(), what="the next run to start")
        assert lock_file.read_text().strip() == str(third.pid)
    finally:
        third.send_signal(signal.SIGTERM)
        assert third.wait(STOP_SECONDS) == 0
    assert all(secret not in caplog.text + log_path.read_text() for secret in SECRETS)


# ---------------------------------------------------------------- heartbeat, reconciliation errors
def test_heartbeat_and_a_failed_reconciliation_are_recorded(make_config, smtp_server, caplog):
    caplog.set_level(logging.INFO)
    closed = free_port()   # nothing listens: every CalDAV request fails
    cfg = make_config(smtp_port=smtp_server.port, caldav_url=f"http://127.0.0.1:{closed}/", reconcile_seconds=1)
    started = time.time()
    stop, thread, result = _start(cfg)
    try:
        beat = wait_for(lambda: _meta(cfg, "service.heartbeat"), what="the heartbeat")
        assert float(beat) >= started
        error = wait_for(lambda: _meta(cfg, "reconcile.last_error"), what="the reconciliation error")
        assert "Connection refused" in error or "ConnectionRefusedError" in error
        assert float(_meta(cfg, "reconcile.last_error_time")) >= started
        assert _meta(cfg, "reconcile.last_run") is None
    finally:
        stop.set()
        thread.join(10)
    assert result["rc"] == 0


# ---------------------------------------------------------------- CalDAV in its own thread
class _HangingServer:
    """Accepts connections and never answers (a CalDAV server or proxy that hangs)."""

    def __init__(self):
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.connections = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _addr = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self):
        self.listener.close()
        for conn in self.connections:
            conn.close()


def test_a_hanging_caldav_server_does_not_delay_invitations(make_config, smtp_server, radicale):
    """Before, write-backs and reconciliation ran in the send loop: a CalDAV request hanging for
    the client's 30 s timeout held back every invitation queued meanwhile."""
    hanging = _HangingServer()
    cfg = make_config(smtp_port=smtp_server.port, caldav_url=f"http://127.0.0.1:{hanging.port}/",
                      spool_dir=radicale.spool_dir)
    conn = db.connect(cfg.gateway.db_path)
    conn.execute("INSERT INTO schedule_status (job_id, point, uid, organizer, attendee, status, next_attempt)"
                 " VALUES ('earlier-job', 'alice/calendar', 'evt-0', 'mailto:alice@example.test',"
                 " 'mailto:bob@external.test', '5.1', 0)")
    stop, thread, _result = _start(cfg)
    try:
        wait_for(lambda: hanging.connections, what="the write-back to hang on CalDAV")
        calendar = radicale.mkcalendar("alice")
        radicale.put(calendar + "evt-1.ics", event_ics())
        wait_for(smtp_server.received, what="the invitation while CalDAV hangs")
        assert smtp_server.received()[0].rcpt_tos == ["bob@external.test"]
    finally:
        hanging.close()
        stop.set()
        thread.join(15)


# ---------------------------------------------------------------- write-back failures
class _GarbageHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request 207 with a body that is not XML (a broken proxy in front of CalDAV)."""

    def _garbage(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html>upstream error"
        self.send_response(207)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_REPORT = do_PROPFIND = do_GET = do_PUT = _garbage

    def log_message(self, *_args):
        pass


@pytest.fixture
def garbage_caldav():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _GarbageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_write_back_failing_for_a_non_caldav_reason_backs_off(tmp_path, garbage_caldav):
    """Before, only CalDAV and network errors backed off: a parse error escaped and the same
    write-back was tried again every 100 ms, holding up the ones behind it."""
    conn = db.connect(tmp_path / "gateway.db")
    conn.execute("INSERT INTO schedule_status (job_id, point, uid, organizer, attendee, status, next_attempt)"
                 " VALUES ('job-1', 'alice/calendar', 'evt-1', 'mailto:alice@example.test',"
                 " 'mailto:bob@external.test', '5.1', 0)")
    caldav = CalDAVClient(garbage_caldav, "calendar-invites@example.test", "x", timeout=5)
    started = time.time()
    assert writeback.process(conn, caldav, base_seconds=60) == 0
    row = conn.execute("SELECT * FROM schedule_status").fetchone()
    assert row["attempts"] == 1 and row["done"] is None and "ParseError" in row["last_error"]
    assert row["next_attempt"] >= started + 60
    assert writeback.process(conn, caldav, base_seconds=60) == 0   # not due: not tried again
    assert conn.execute("SELECT attempts FROM schedule_status").fetchone()[0] == 1
    caldav.close()


# ---------------------------------------------------------------- spool records
def _record(new_dir, record_id, **fields):
    record = {"id": record_id, "received": time.time(), "type": "upsert", "point": "alice/calendar", "uid": "evt-1",
              "content_type": "VCALENDAR", "old_content": None, "new_content": event_ics(), "actor": "alice"}
    record.update(fields)
    (new_dir / f"{record_id}.json").write_text(json.dumps(record))


def test_a_spool_record_with_a_non_scalar_field_is_quarantined_alone(tmp_path, caplog):
    """Before, a list where text belongs failed the INSERT, which rolled back the whole batch:
    no record was ever taken again."""
    spool_dir = tmp_path / "spool"
    _tmp, new, bad = spool.hook_dirs(spool_dir)
    new.mkdir(parents=True)
    _record(new, "1-bad-list", uid=["evt-1"])
    _record(new, "2-bad-dict", new_content={"text": "x"})
    _record(new, "3-bad-received", received="yesterday")
    _record(new, "4-good")
    conn = db.connect(tmp_path / "gateway.db")
    assert spool.ingest(conn, spool_dir) == 1
    assert [r["id"] for r in conn.execute("SELECT id FROM changes")] == ["4-good"]
    assert sorted(p.name for p in bad.iterdir()) == ["1-bad-list.json", "2-bad-dict.json", "3-bad-received.json"]
    assert list(new.iterdir()) == []
    assert "field 'uid' is a list, not text" in caplog.text


# ---------------------------------------------------------------- database file modes
def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_database_is_private_whatever_the_umask(tmp_path):
    """Before, the files got the process's umask: a manual run as root with umask 022 left the
    reply tokens world-readable."""
    path = tmp_path / "state" / "gateway.db"
    old = os.umask(0)
    try:
        conn = db.connect(path)
        with db.transaction(conn):
            db.set_meta(conn, "x", "y")
        files = [path, path.with_name("gateway.db-wal"), path.with_name("gateway.db-shm")]
        assert [_mode(p) for p in files] == [0o600] * 3
        conn.close()
        # Files left wider by an earlier version are narrowed at the next start.
        for p in files:
            if p.exists():
                os.chmod(p, 0o644)
        conn = db.connect(path)
        assert all(_mode(p) == 0o600 for p in files if p.exists())
        conn.close()
    finally:
        os.umask(old)
