"""`imip-gateway status` as an operator reads it: every failure the gateway
can be in is a ✖ line that says what is wrong and how to fix it, counted in the exit code and
listed in --json's "problems" (which the collection's status report reads).

The state is made by the gateway's own code (planning, delivery to aiosmtpd, write-back against
an unreachable CalDAV server); the service's meta keys (heartbeat, pause, reconciliation) are
written as the running service writes them (db.set_meta, the contract between the two)."""

import json
import time

import pytest
from conftest import event_ics

from imip_gateway import cli, db
from imip_gateway.caldav_client import CalDAVClient
from imip_gateway.outbound import changes, delivery, writeback
from imip_gateway.submission import Submitter


@pytest.fixture
def gw(make_config, capsys):
    cfg = make_config(smtp_port=9, reconcile_seconds=300)
    conn = db.connect(cfg.gateway.db_path)
    hook = cfg.gateway.spool_dir / "hook"
    hook.mkdir(parents=True)
    # What the loaded hook leaves behind (the Radicale tests prove the hook writes it).
    (hook / "loaded").write_text(json.dumps({"pid": 4242, "time": time.time()}))

    def status(*extra):
        rc = cli.main(["status", "--json", "--config", str(cfg.path), *extra])
        report = json.loads(capsys.readouterr().out)
        assert cli.main(["status", "--config", str(cfg.path)]) == rc
        return rc, report, capsys.readouterr().out

    def meta(**values):
        with db.transaction(conn):
            for key, value in values.items():
                db.set_meta(conn, key.replace("_", ".", 1), value)

    def plan(ics, *, at=None, uid=None):
        conn.execute("INSERT INTO changes (id, source, received, type, point, uid, content_type, new_content, actor)"
                     " VALUES (?, 'hook', ?, 'upsert', 'alice/calendar', ?, 'VCALENDAR', ?, 'alice')",
                     (f"{time.time_ns()}", at or time.time(), uid, ics))
        changes.process_pending(conn, cfg, now=at)
    return cfg, conn, status, meta, plan


def alive(meta, **extra):
    """A running, healthy service: fresh heartbeat, a reconciliation ten minutes ago (of 16 allowed)."""
    meta(service_heartbeat=repr(time.time()), reconcile_last_run=repr(time.time() - 600), **extra)


def line(human, needle):
    return next(text for text in human.splitlines()[1:] if needle in text)  # [0] names the database path


def test_a_healthy_gateway_is_all_ticks_and_exit_0(gw):
    _cfg, _conn, status, meta, _plan = gw
    alive(meta)
    rc, report, human = status()
    assert rc == 0 and report["problems"] == []
    assert {c["status"] for c in report["checks"]} <= {"ok", "unknown"}
    assert line(human, "heartbeat").startswith("  ✓ running, heartbeat")
    assert line(human, "reconciliation").startswith("  ✓ last reconciliation 10 min ago (every 300 s)")


def test_a_due_job_the_running_service_does_not_send_is_a_stall(gw):
    """The incident: one job due for ten minutes, never attempted, no error, the service alive
    (it was looping on a TypeError). Before: "✓ oldest pending ... 0 attempt(s), last error: none"."""
    _cfg, conn, status, meta, plan = gw
    plan(event_ics(uid="stuck"), at=time.time() - 600)
    alive(meta)
    rc, report, human = status()
    job = conn.execute("SELECT id FROM jobs").fetchone()["id"]
    assert rc == 1
    oldest = line(human, "oldest pending")
    assert oldest.startswith(f"  ✖ oldest pending: REQUEST uid=stuck to bob@external.test (job {job}), 10 min old, "
                             "0 attempt(s): due for 10 min but not attempted although the service is running: "
                             "the queue is stalled")
    assert f"imip-gateway retry {job}" in human and f"imip-gateway drop {job} --reason" in human
    assert report["outbound"]["oldest_pending"]["stalled"] is True
    assert any("the queue is stalled" in p for p in report["problems"])


def test_a_job_deferred_with_an_error_is_a_failure_with_that_error(gw, smtp_server):
    cfg, conn, status, meta, plan = gw
    plan(event_ics(uid="greylisted"))
    smtp_server.mode = "tempfail"
    submitter = Submitter(cfg.smtp.host, smtp_server.port, cfg.smtp.user, "smtp-S3cret-pass-9f2",
                          ca_file=cfg.smtp.ca_file, timeout=5)
    delivery.drain(conn, cfg, submitter)
    alive(meta)
    rc, _report, human = status()
    assert rc == 1
    assert line(human, "oldest pending").startswith("  ✖ oldest pending: REQUEST uid=greylisted")
    assert "1 attempt(s), last error: recipient bob@external.test refused: 451 4.3.0" in line(human, "oldest pending")


def test_planning_errors_in_the_last_day_are_reported_with_the_latest_note(gw):
    _cfg, _conn, status, meta, plan = gw
    alive(meta)
    plan("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nthis is not ical", uid="broken-1")
    rc, report, human = status()
    assert rc == 1
    text = line(human, "could not be planned")
    assert text.startswith("  ✖ 1 change(s) could not be planned in the last 24 h, so their invitations were never "
                           "made; the latest (")
    assert "uid broken-1 in alice/calendar): " in text
    assert text.endswith(" ".join(report["outbound"]["planning"]["latest"]["note"].split()))
    assert any("could not be planned" in p for p in report["problems"])


def test_reconciliation_older_than_three_intervals_fails_with_its_last_error(gw):
    _cfg, _conn, status, meta, _plan = gw
    meta(service_heartbeat=repr(time.time()), reconcile_last_run=repr(time.time() - 86400),
         reconcile_last_error="CalDAVError: 401 Unauthorized", reconcile_last_error_time=repr(time.time() - 30))
    rc, report, human = status()
    assert rc == 1
    text = line(human, "reconciliation")
    assert text.startswith("  ✖ last successful reconciliation 24 h ago (")
    assert "allowed 16 min (every 300 s); last error (" in text and text.endswith("CalDAVError: 401 Unauthorized")
    assert report["outbound"]["reconcile"]["allowed_seconds"] == 960
    # Within three intervals and a minute it is fine, even after one failed pass.
    meta(reconcile_last_run=repr(time.time() - 900))
    rc, _report, human = status()
    assert rc == 0 and line(human, "reconciliation").startswith("  ✓ last reconciliation 15 min ago")


def test_a_write_back_that_keeps_failing_is_reported(gw, smtp_server):
    """A rejected invitation must end up on the organizer's event; with CalDAV unreachable the
    SCHEDULE-STATUS write-back waits, and after more than three failures the status says so."""
    cfg, conn, status, meta, plan = gw
    plan(event_ics(uid="rejected"))
    smtp_server.mode = "permfail"
    delivery.drain(conn, cfg, Submitter(cfg.smtp.host, smtp_server.port, cfg.smtp.user, "smtp-S3cret-pass-9f2",
                                        ca_file=cfg.smtp.ca_file, timeout=5))
    alive(meta)
    rc, _report, human = status()
    assert rc == 0 and line(human, "write-back").startswith("  ✓ 1 SCHEDULE-STATUS write-back(s) pending")
    caldav = CalDAVClient("http://127.0.0.1:9/", cfg.caldav.user, "x", timeout=2)
    for _attempt in range(4):
        writeback.process(conn, caldav, base_seconds=0)
    rc, report, human = status()
    assert rc == 1
    text = line(human, "write-back")
    assert text.startswith("  ✖ 1 SCHEDULE-STATUS write-back(s) pending; the oldest (5.1 for bob@external.test on "
                           "uid rejected) for ") and "4 failed attempt(s), last error: " in text
    assert "the organizer's event does not show the failed invitation yet" in human
    assert report["outbound"]["schedule_status_pending"] == 1


def test_no_heartbeat_while_work_waits_means_the_service_is_down(gw):
    _cfg, _conn, status, meta, plan = gw
    rc, _report, human = status()
    assert rc == 0 and line(human, "heartbeat").startswith("  ? no heartbeat recorded yet")
    plan(event_ics(uid="waiting"))
    rc, report, human = status()
    assert rc == 1
    assert line(human, "heartbeat").startswith(
        "  ✖ no heartbeat from the service while 1 job(s) or change(s) wait: the service is not running or is wedged")
    meta(service_heartbeat=repr(time.time() - 600))
    rc, report, human = status()
    assert rc == 1 and line(human, "heartbeat").startswith("  ✖ last heartbeat 10 min ago (")
    assert line(human, "heartbeat").endswith("the service is not running or is wedged")
    assert any("systemctl restart imip-gateway" in p for p in report["problems"])


def test_a_paused_queue_says_why_and_how_to_resume(gw):
    _cfg, _conn, status, meta, _plan = gw
    alive(meta, smtp_paused_reason="MAIL FROM refused: 553 5.7.1 Sender address rejected: not owned by user",
          smtp_paused_since=repr(time.time() - 120))
    rc, report, human = status()
    assert rc == 1
    assert line(human, "paused").startswith("  ✖ sending is paused since ")
    assert line(human, "paused").endswith(": MAIL FROM refused: 553 5.7.1 Sender address rejected: not owned by user")
    assert "systemctl reload imip-gateway" in report["problems"][0]
    meta(smtp_paused_reason="")  # the next accepted message clears it
    rc, _report, human = status()
    assert rc == 0 and "  ✓ sending is not paused" in human


def test_json_problems_are_exactly_the_crosses(gw):
    _cfg, _conn, status, meta, plan = gw
    plan(event_ics(uid="stuck"), at=time.time() - 3600)
    meta(service_heartbeat=repr(time.time() - 3600))
    rc, report, human = status()
    crosses = [c for c in report["checks"] if c["status"] == "fail"]
    assert rc == 1 and len(report["problems"]) == len(crosses) == human.count("✖") >= 2
    assert all(p.startswith(c["text"]) for p, c in zip(report["problems"], crosses))
