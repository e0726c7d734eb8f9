"""`imip-gateway jobs`, `retry ID` and `drop ID`: an operator looks at one queued
invitation and acts on it without editing gateway.db, while the service runs.

Jobs are made by the gateway's planning and tried against the real aiosmtpd; the drop's
SCHEDULE-STATUS is written by the gateway's own write-back into a real Radicale; the running
service is a real `imip-gateway run` subprocess, woken through its state-directory lock."""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import icalendar
import pytest
from conftest import SMTP_PASSWORD, STOP_SECONDS, event_ics, wait_for

from imip_gateway import cli, db
from imip_gateway.outbound import changes, delivery
from imip_gateway.submission import Submitter


@pytest.fixture
def queue(make_config, smtp_server, capsys):
    cfg = make_config(smtp_port=smtp_server.port, retry_base_seconds=600)
    conn = db.connect(cfg.gateway.db_path)

    def plan(uid="evt-1", attendees=("bob@external.test",)):
        conn.execute("INSERT INTO changes (id, source, received, type, point, content_type, new_content, actor)"
                     " VALUES (?, 'hook', ?, 'upsert', 'alice/calendar', 'VCALENDAR', ?, 'alice')",
                     (f"{time.time_ns()}", time.time(), event_ics(uid=uid, attendees=attendees)))
        changes.process_pending(conn, cfg)
        return conn.execute("SELECT * FROM jobs WHERE uid = ? ORDER BY attendee", (uid,)).fetchall()

    def drain():
        sub = Submitter(cfg.smtp.host, cfg.smtp.port, cfg.smtp.user, SMTP_PASSWORD, ca_file=cfg.smtp.ca_file, timeout=5)
        return delivery.drain(conn, cfg, sub)

    def run(*argv):
        # cli.main points the root logger at this test's stderr; later log lines (from drain) must
        # not go to a stream the capture has closed, so the handlers are put back afterwards.
        handlers = logging.getLogger().handlers[:]
        capsys.readouterr()
        try:
            rc = cli.main([*argv, "--config", str(cfg.path)])
        finally:
            logging.getLogger().handlers[:] = handlers
        out = capsys.readouterr()
        return rc, out.out, out.err

    def job(job_id):
        return conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return cfg, conn, plan, drain, run, job, smtp_server


def test_jobs_lists_what_waits_with_its_last_error(queue):
    _cfg, _conn, plan, drain, run, _job, smtp = queue
    first = plan("evt-1")[0]
    smtp.mode = "tempfail"
    drain()
    rc, out, _err = run("jobs")
    assert rc == 0
    head, detail = out.splitlines()[:2]
    assert head == f"{first['id'][:12]}  pending  REQUEST  new attendee  to bob@external.test  uid=evt-1"
    assert detail.startswith("    1 attempt(s), created ") and ", next attempt " in detail
    assert detail.endswith("last error: recipient bob@external.test refused: 451 4.3.0 Try again later")
    rc, out, _err = run("jobs", "--json")
    [listed] = json.loads(out)
    assert (listed["id"], listed["state"], listed["attendee"], listed["attempts"]) == (
        first["id"], "pending", "bob@external.test", 1)
    assert run("jobs", "--state", "sent")[1] == "no sent job\n"


def test_retry_makes_a_job_in_backoff_due_now_and_it_is_sent(queue):
    _cfg, _conn, plan, drain, run, job, smtp = queue
    waiting = plan()[0]
    smtp.mode = "tempfail"
    drain()
    assert job(waiting["id"])["next_attempt"] > time.time() + 500  # ten minutes of backoff
    smtp.mode = "ok"
    assert drain().sent == 0
    rc, out, _err = run("retry", waiting["id"][:8])
    assert rc == 0
    assert out.splitlines()[0] == (f"job {waiting['id']} (REQUEST uid=evt-1 to bob@external.test) is pending and "
                                   "due now (it was pending)")
    assert "note: the service is not running (" in out
    assert drain().sent == 1 and [r.rcpt_tos for r in smtp.received()] == [["bob@external.test"]]
    assert job(waiting["id"])["state"] == "sent"


def test_retry_of_a_failed_job_sends_it_and_withdraws_its_unwritten_failure(queue):
    _cfg, conn, plan, drain, run, job, smtp = queue
    failed = plan()[0]
    smtp.mode = "permfail"
    drain()
    assert job(failed["id"])["state"] == "failed"
    smtp.mode = "ok"
    rc, _out, _err = run("retry", failed["id"])
    assert rc == 0 and job(failed["id"])["state"] == "pending"
    # CalDAV never saw the 5.1: the retried invitation must not be marked failed afterwards.
    assert conn.execute("SELECT count(*) FROM schedule_status").fetchone()[0] == 0
    assert drain().sent == 1 and job(failed["id"])["state"] == "sent"


def test_drop_gives_a_job_up_with_the_reason_and_queues_its_schedule_status(queue):
    _cfg, conn, plan, drain, run, job, smtp = queue
    dropped = plan()[0]
    rc, out, _err = run("drop", dropped["id"][:10], "--reason", "mailbox\nclosed for good", "--status", "5.3")
    assert rc == 0
    assert out.splitlines()[0] == (f"job {dropped['id']} (REQUEST uid=evt-1 to bob@external.test) dropped: mailbox "
                                   "closed for good; SCHEDULE-STATUS 5.3 queued for the organizer's event")
    row = job(dropped["id"])
    assert (row["state"], row["last_error"]) == ("dropped", "mailbox closed for good")
    written = conn.execute("SELECT attendee, status, done FROM schedule_status WHERE job_id = ?",
                           (dropped["id"],)).fetchone()
    assert tuple(written) == ("mailto:bob@external.test", "5.3", None)
    assert drain().sent == 0 and smtp.received() == []
    assert json.loads(run("jobs", "--state", "dropped", "--json")[1])[0]["last_error"] == "mailbox closed for good"


def test_clear_errors_for_unknown_ambiguous_and_finished_jobs(queue):
    _cfg, _conn, plan, drain, run, _job, _smtp = queue
    jobs = plan(attendees=tuple(f"guest{i}@external.test" for i in range(17)))
    firsts = [j["id"][0] for j in jobs]
    shared = next(c for c in firsts if firsts.count(c) > 1)   # 17 ids, 16 hex digits: one is shared
    rc, _out, err = run("retry", shared)
    assert rc == 1 and err.startswith(f"imip-gateway: '{shared}' is the beginning of several jobs (")
    assert err.rstrip().endswith("give more of the id")
    rc, _out, err = run("drop", "nosuchjob", "--reason", "x")
    assert (rc, err) == (1, "imip-gateway: no job 'nosuchjob': `imip-gateway jobs --state all` lists them\n")
    drain()
    sent = jobs[0]["id"]
    rc, _out, err = run("drop", sent, "--reason", "too late")
    assert (rc, err) == (1, f"imip-gateway: job {sent} is sent: only a pending or failed job can be dropped\n")
    rc, _out, err = run("retry", sent)
    assert (rc, err) == (1, f"imip-gateway: job {sent} is sent: only a pending or failed job can be retried\n")
    rc, _out, err = run("drop", sent, "--reason", "  ")
    assert (rc, err) == (1, "imip-gateway: --reason must say why the job is dropped\n")
    rc, _out, err = run("drop", sent, "--reason", "x", "--status", '5.1";x')
    assert (rc, err) == (1, "imip-gateway: --status '5.1\";x': expected a status code such as 5.1 or 3.7\n")


def test_retry_refuses_to_resend_what_a_later_message_replaced(queue):
    _cfg, _conn, plan, drain, run, job, smtp = queue
    old = plan("evt-1")[0]
    smtp.mode = "permfail"
    drain()
    smtp.mode = "ok"
    update = plan("evt-1", attendees=())  # bob removed: a CANCEL goes out
    [cancel] = [j for j in update if j["state"] == "pending"]
    assert cancel["method"] == "CANCEL"
    drain()
    rc, _out, err = run("retry", old["id"])
    assert rc == 1 and err == (f"imip-gateway: job {cancel['id']} (CANCEL) for the same event and attendee was sent "
                               f"after this one, at {cli._when(job(cancel['id'])['sent'])}: sending this one now "
                               "would undo it\n")
    assert job(old["id"])["state"] == "failed"


# ------------------------------------------------------------------------------ with the service running

def _gateway(cfg, log_path):
    cmd = [sys.executable, "-m", "imip_gateway", "run", "--config", str(cfg.path)]
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=os.environ)
    wait_for(lambda: "imip-gateway started" in log_path.read_text(), what="the service's start")
    return proc


def _operator(cfg, *argv):
    return subprocess.run([sys.executable, "-m", "imip_gateway", *argv, "--config", str(cfg.path)],
                          capture_output=True, text=True, env=os.environ, check=False, timeout=60)


@pytest.mark.slow
def test_retry_wakes_the_running_service_which_sends_at_once(tmp_path, make_config, smtp_server, radicale):
    calendar = radicale.mkcalendar("alice")
    cfg = make_config(smtp_port=smtp_server.port, caldav_url=radicale.url, spool_dir=radicale.spool_dir,
                      retry_base_seconds=600)
    smtp_server.mode = "tempfail"
    proc = _gateway(cfg, tmp_path / "gw.log")
    try:
        radicale.put(calendar + "wake.ics", event_ics(uid="wake-1"))
        listed = wait_for(lambda: json.loads(_operator(cfg, "jobs", "--json").stdout or "[]"),
                          what="the job deferred")
        wait_for(lambda: json.loads(_operator(cfg, "jobs", "--json").stdout)[0]["attempts"] == 1,
                 what="the first attempt refused (451), ten minutes of backoff")
        smtp_server.mode = "ok"
        done = _operator(cfg, "retry", listed[0]["id"][:12])
        assert done.returncode == 0, done.stderr
        assert f"note: woke the running service (pid {proc.pid}): it acts on this now" in done.stdout
        wait_for(smtp_server.received, timeout=15, what="the invitation after the retry")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_SECONDS) == 0
    assert "asked to retry now (SIGHUP)" in (tmp_path / "gw.log").read_text()
    stopped = _operator(cfg, "retry", listed[0]["id"])
    assert stopped.returncode == 1 and "is sent: only a pending or failed job can be retried" in stopped.stderr


@pytest.mark.slow
def test_drop_while_the_service_runs_marks_the_organizers_event(tmp_path, make_config, smtp_server, radicale):
    """An attendee whose server defers forever: the operator drops the job with a reason; the
    organizer's event then shows SCHEDULE-STATUS 5.1 for that attendee, written by the service."""
    calendar = radicale.mkcalendar("alice")
    cfg = make_config(smtp_port=smtp_server.port, caldav_url=radicale.url, spool_dir=radicale.spool_dir,
                      retry_base_seconds=600)
    smtp_server.mode = "tempfail"
    proc = _gateway(cfg, tmp_path / "gw.log")
    href = calendar + "drop.ics"
    try:
        radicale.put(href, event_ics(uid="drop-1"))
        wait_for(lambda: json.loads(_operator(cfg, "jobs", "--json").stdout or "[]"), what="the job queued")
        job_id = json.loads(_operator(cfg, "jobs", "--json").stdout)[0]["id"]
        done = _operator(cfg, "drop", job_id, "--reason", "the attendee's domain no longer takes mail")
        assert done.returncode == 0, done.stderr
        assert f"note: woke the running service (pid {proc.pid})" in done.stdout

        def shown():
            event = icalendar.Calendar.from_ical(radicale.get(href)).walk("VEVENT")[0]
            return next((a.params.get("SCHEDULE-STATUS") for a in event["ATTENDEE"]
                         if str(a) == "mailto:bob@external.test"), None)
        assert wait_for(shown, timeout=30, what="SCHEDULE-STATUS on the organizer's event") == "5.1"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_SECONDS) == 0
    assert smtp_server.received() == []
    assert "Traceback" not in (tmp_path / "gw.log").read_text()
