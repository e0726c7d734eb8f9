"""End to end with the real services: Radicale (pinned, our hook configured) -> spool -> the
gateway service -> SMTP (aiosmtpd with STARTTLS + AUTH). CalDAV requests are made as the
organizer would make them (PUT/DELETE over HTTP)."""

import email
import email.policy
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import icalendar
import pytest
from conftest import (CALDAV_PASSWORD, SECRETS, SMTP_PASSWORD, STOP_SECONDS, event_ics, running_service, start_radicale,
                      stop_radicale, wait_for)

from imip_gateway import cli, db, service
from imip_gateway.outbound import changes

pytestmark = pytest.mark.slow


def parsed_messages(server):
    out = []
    for received in server.received():
        msg = email.message_from_bytes(received.data, policy=email.policy.default)
        part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
        cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
        out.append((msg, cal, received))
    return out


def summary(server):
    """[(METHOD, recipient, SEQUENCE of the first VEVENT)] in arrival order."""
    return [(str(cal["METHOD"]), r.rcpt_tos[0], int(cal.walk("VEVENT")[0]["SEQUENCE"]))
            for _msg, cal, r in parsed_messages(server)]


@pytest.fixture
def gateway(make_config, smtp_server, radicale, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    # A deleted event's CANCEL waits in case the event is being moved (30 s in service): shorter here.
    monkeypatch.setattr(changes, "MOVE_GRACE_SECONDS", 2.0)
    cfg = make_config(smtp_port=smtp_server.port, caldav_url=radicale.url, spool_dir=radicale.spool_dir)
    with running_service(cfg):
        calendar = radicale.mkcalendar("alice")
        yield cfg, radicale, smtp_server, calendar
    for secret in SECRETS:
        assert secret not in caplog.text


def test_hook_loaded_marker_and_spool_records(radicale):
    marker = json.loads((radicale.spool_dir / "hook" / "loaded").read_text())
    assert marker["pid"] == radicale.process.pid
    calendar = radicale.mkcalendar("alice")
    radicale.put(calendar + "evt-1.ics", event_ics())
    records = sorted((radicale.spool_dir / "hook" / "new").glob("*.json"))
    assert len(records) == 1  # the PUT returned after the record was durable
    record = json.loads(records[0].read_text())
    assert (record["type"], record["point"], record["actor"], record["content_type"]) == (
        "upsert", "alice/calendar", "alice", "VCALENDAR")
    assert "UID:evt-1" in record["new_content"] and record["old_content"] is None
    assert radicale.delete(calendar + "evt-1.ics") in (200, 204)
    records = sorted((radicale.spool_dir / "hook" / "new").glob("*.json"))
    record = json.loads(records[-1].read_text())
    assert record["type"] == "delete" and record["uid"] == "evt-1" and "UID:evt-1" in record["old_content"]
    assert list((radicale.spool_dir / "hook" / "tmp").iterdir()) == []


def test_hook_failure_never_fails_the_put(radicale):
    calendar = radicale.mkcalendar("alice")
    new_dir = radicale.spool_dir / "hook" / "new"
    os.rename(new_dir, new_dir.with_name("moved-away"))
    new_dir.write_text("not a directory")  # the rename into new/ must fail
    assert radicale.put(calendar + "evt-2.ics", event_ics(uid="evt-2")) == 201
    assert "imip_gateway hook: could not spool upsert notification for alice/calendar" in radicale.log_path.read_text()


def test_missing_hook_module_is_reported_by_check_hook(tmp_path, make_config, capsys):
    broken = start_radicale(tmp_path / "broken", hook="imip_gateway.no_such_module")
    try:
        # Radicale itself keeps running without a hook: that is the silent failure we catch.
        assert broken.process.poll() is None
        cfg = make_config(smtp_port=25, spool_dir=broken.spool_dir)
        assert cli.main(["check-hook", "--config", str(cfg.path)]) == 1
        err = capsys.readouterr().err
        assert "the Radicale hook has not loaded" in err and str(broken.spool_dir / "hook" / "loaded") in err
    finally:
        stop_radicale(broken)
    good = start_radicale(tmp_path / "good")
    try:
        cfg = make_config(smtp_port=25, spool_dir=good.spool_dir)
        assert cli.main(["check-hook", "--config", str(cfg.path), "--newer-than", str(time.time() - 60)]) == 0
        assert cli.main(["check-hook", "--config", str(cfg.path), "--newer-than", str(time.time() + 60)]) == 1
    finally:
        stop_radicale(good)


def test_invitation_lifecycle(gateway):
    cfg, radicale, smtp, calendar = gateway
    href = calendar + "evt-1.ics"
    radicale.put(href, event_ics(attendees=("bob@external.test", "carl@external.test", "dave@example.test")))
    wait_for(lambda: len(smtp.received()) == 2, what="two REQUESTs")
    assert sorted(summary(smtp)) == [("REQUEST", "bob@external.test", 0), ("REQUEST", "carl@external.test", 0)]
    msg, cal, _received = parsed_messages(smtp)[0]
    organizer = cal.walk("VEVENT")[0]["ORGANIZER"]
    assert str(organizer).startswith("mailto:calendar-invites+") and organizer.params["EMAIL"] == "alice@example.test"
    assert msg["Reply-To"] == str(organizer)[len("mailto:"):]

    # Moving the event (client does not bump SEQUENCE): updated REQUESTs with a higher SEQUENCE.
    radicale.put(href, event_ics(start="20300110T140000", end="20300110T150000",
                                 attendees=("bob@external.test", "carl@external.test", "dave@example.test")))
    wait_for(lambda: len(smtp.received()) == 4, what="two updates")
    assert sorted(summary(smtp)[2:]) == [("REQUEST", "bob@external.test", 1), ("REQUEST", "carl@external.test", 1)]

    # Removing carl: CANCEL to carl only.
    radicale.put(href, event_ics(start="20300110T140000", end="20300110T150000",
                                 attendees=("bob@external.test", "dave@example.test")))
    wait_for(lambda: len(smtp.received()) == 5, what="CANCEL to carl")
    assert summary(smtp)[4] == ("CANCEL", "carl@external.test", 2)

    # Deleting: CANCEL to bob.
    radicale.delete(href)
    wait_for(lambda: len(smtp.received()) == 6, what="CANCEL to bob")
    assert summary(smtp)[5][:2] == ("CANCEL", "bob@external.test")

    # Only local attendees: nothing.
    radicale.put(calendar + "local.ics", event_ics(uid="local-1", attendees=("dave@example.test",)))
    radicale.put(calendar + "marker.ics", event_ics(uid="marker", attendees=("zed@external.test",)))
    wait_for(lambda: len(smtp.received()) == 7, what="the marker invitation")
    assert [r for _m, _c, r in parsed_messages(smtp)][6].rcpt_tos == ["zed@external.test"]


def test_smtp_down_while_invitations_are_created_loses_nothing(gateway):
    cfg, radicale, smtp, calendar = gateway
    smtp.stop()
    for i in range(5):
        radicale.put(calendar + f"down{i}.ics", event_ics(uid=f"down-{i}", attendees=(f"d{i}@external.test",)))
    conn = db.connect(cfg.gateway.db_path)
    wait_for(lambda: conn.execute("SELECT count(*) FROM jobs WHERE attempts > 0").fetchone()[0] >= 1,
             what="a failed attempt while SMTP is down")
    wait_for(lambda: conn.execute("SELECT count(*) FROM jobs WHERE state = 'pending'").fetchone()[0] == 5,
             what="all five queued")
    time.sleep(1.5)  # at least one more retry round while SMTP is down: still nothing lost
    assert conn.execute("SELECT count(*) FROM jobs WHERE state = 'pending'").fetchone()[0] == 5
    smtp.start()  # "Postfix is back"; retry_base_seconds = 1 in the tests
    wait_for(lambda: len(smtp.received()) == 5, timeout=30, what="all five after SMTP is back")
    assert sorted(r for _m, _c, received in parsed_messages(smtp) for r in received.rcpt_tos) == [
        f"d{i}@external.test" for i in range(5)]
    assert conn.execute("SELECT count(*) FROM jobs WHERE state = 'sent'").fetchone()[0] == 5


def test_permanent_failure_sets_schedule_status_without_mail_loop(gateway, caplog):
    cfg, radicale, smtp, calendar = gateway
    smtp.mode = "permfail"
    href = calendar + "evt-9.ics"
    radicale.put(href, event_ics(uid="evt-9"))

    def status_written():
        event = icalendar.Calendar.from_ical(radicale.get(href)).walk("VEVENT")[0]
        for attendee in event["ATTENDEE"]:
            if str(attendee) == "mailto:bob@external.test":
                return attendee.params.get("SCHEDULE-STATUS")
    assert wait_for(status_written, what="SCHEDULE-STATUS on the organizer's event").startswith("5.")
    smtp.mode = "ok"
    # The gateway's own write reached the spool and was recognised by its actor: no new job.
    conn = db.connect(cfg.gateway.db_path)
    wait_for(lambda: conn.execute("SELECT count(*) FROM changes WHERE actor = ? AND note = ?",
                                  (cfg.caldav.user, "written by the gateway itself")).fetchone()[0] == 1,
             what="the gateway's own change to be ignored")
    assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 1
    # Logged once the write-back is recorded, which may be a moment after the organizer's event
    # shows it (a busy machine made an immediate check fail).
    wait_for(lambda: "SCHEDULE-STATUS=5.1 for attendee=bob@external.test uid=evt-9" in caplog.text,
             what="the write-back's log line")
    assert smtp.received() == []
    status_out = subprocess.run([sys.executable, "-m", "imip_gateway", "status", "--json", "--config", str(cfg.path)],
                                capture_output=True, text=True, env=os.environ, check=False)
    assert status_out.returncode == 0, status_out.stderr
    report = json.loads(status_out.stdout)
    assert report["outbound"]["failed_total"] == 1 and report["outbound"]["queue_depth"] == 0


def test_reconciliation_catches_what_the_hook_missed(tmp_path, make_config, smtp_server, caplog):
    caplog.set_level(logging.INFO)
    radicale = start_radicale(tmp_path / "nohook", hook="none")   # as if the hook had failed to load
    try:
        calendar = radicale.mkcalendar("alice")
        radicale.put(calendar + "old.ics", event_ics(uid="existing-before-install"))
        cfg = make_config(smtp_port=smtp_server.port, caldav_url=radicale.url, spool_dir=radicale.spool_dir,
                          reconcile_seconds=1)
        stop = threading.Event()
        thread = threading.Thread(target=service.run, args=(cfg, stop), daemon=True)
        thread.start()
        wait_for(lambda: "reconcile: 1 calendars" in caplog.text, what="baseline reconciliation")
        radicale.put(calendar + "new.ics", event_ics(uid="missed-by-hook", attendees=("erin@external.test",)))
        wait_for(smtp_server.received, timeout=20, what="the reconciled invitation")
        stop.set()
        thread.join(10)
        # The baseline mailed nothing about the event that existed before the gateway.
        assert summary(smtp_server) == [("REQUEST", "erin@external.test", 0)]
        assert "new.ics changed without a hook notification (uid=missed-by-hook)" in caplog.text
    finally:
        stop_radicale(radicale)


def test_sigkill_mid_queue_resumes_without_loss(tmp_path, make_config, smtp_server, radicale):
    """SIGKILL while draining: every invitation arrives, at most one twice, with the same Message-ID."""
    count = 30
    calendar = radicale.mkcalendar("alice")
    for i in range(count):
        radicale.put(calendar + f"e{i}.ics", event_ics(uid=f"kill-{i}", attendees=(f"guest{i}@external.test",)))
    cfg = make_config(smtp_port=smtp_server.port, caldav_url=radicale.url, spool_dir=radicale.spool_dir)
    smtp_server.delay = 0.05  # slow enough to kill it mid-queue
    cmd = [sys.executable, "-m", "imip_gateway", "run", "--config", str(cfg.path)]
    log1 = open(tmp_path / "gw1.log", "wb")
    first = subprocess.Popen(cmd, stdout=log1, stderr=subprocess.STDOUT, env=os.environ)
    wait_for(lambda: len(smtp_server.received()) >= 8, what="some messages sent")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    before = len(smtp_server.received())
    assert before < count, "killed too late to prove anything"
    smtp_server.delay = 0
    log2 = open(tmp_path / "gw2.log", "wb")
    second = subprocess.Popen(cmd, stdout=log2, stderr=subprocess.STDOUT, env=os.environ)
    try:
        wait_for(lambda: {r.rcpt_tos[0] for r in smtp_server.received()} >=
                 {f"guest{i}@external.test" for i in range(count)}, timeout=30, what="every invitation")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(STOP_SECONDS) == 0
    ids: dict[str, list[str]] = {}
    for msg, _cal, received in parsed_messages(smtp_server):
        ids.setdefault(received.rcpt_tos[0], []).append(msg["Message-ID"])
    assert len(ids) == count
    duplicates = {k: v for k, v in ids.items() if len(v) > 1}
    assert len(duplicates) <= 1, duplicates
    for values in duplicates.values():
        assert len(values) == 2 and values[0] == values[1]
    logs = (tmp_path / "gw1.log").read_text() + (tmp_path / "gw2.log").read_text()
    assert "Traceback" not in logs and all(secret not in logs for secret in SECRETS)


def test_client_bumped_sequence_after_a_reply_is_mailed_as_is(gateway):
    """A reply written back by the gateway (PARTSTAT only) is no change to mail; the organizer's
    client then moves the event and bumps SEQUENCE 0 -> 1: the update goes out with SEQUENCE 1."""
    cfg, radicale, smtp, calendar = gateway
    href = calendar + "evt-seq.ics"
    radicale.put(href, event_ics(uid="evt-seq"))  # no SEQUENCE, as many clients write it
    wait_for(lambda: len(smtp.received()) == 1, what="the REQUEST")
    accepted = radicale.get(href).replace("PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob",
                                          "PARTSTAT=ACCEPTED;SCHEDULE-STATUS=2.0:mailto:bob")
    assert "PARTSTAT=ACCEPTED;SCHEDULE-STATUS=2.0:mailto:bob" in accepted
    radicale.put(href, accepted, user=cfg.caldav.user, password=CALDAV_PASSWORD)  # the write-back
    conn = db.connect(cfg.gateway.db_path)
    wait_for(lambda: conn.execute("SELECT count(*) FROM changes WHERE actor = ?",
                                  (cfg.caldav.user,)).fetchone()[0] == 1, what="the write-back ingested")
    # The client writes the whole event anew (PARTSTAT back to NEEDS-ACTION, a new DTSTAMP).
    moved = event_ics(uid="evt-seq", sequence=1, start="20300110T140000", end="20300110T150000").replace(
        "DTSTAMP:20260101T000000Z", "DTSTAMP:20260102T000000Z")
    radicale.put(href, moved)
    wait_for(lambda: len(smtp.received()) == 2, what="the update")
    assert summary(smtp) == [("REQUEST", "bob@external.test", 0), ("REQUEST", "bob@external.test", 1)]


def test_reconciliation_does_not_mail_what_the_hook_already_mailed(tmp_path, make_config, smtp_server, caplog):
    """With the hook working, a reconciliation pass after each change finds nothing new to mail:
    the stored item and the hook's copy are the same event, even where their text differs."""
    caplog.set_level(logging.INFO)
    radicale = start_radicale(tmp_path / "withhook")
    stop = threading.Event()
    try:
        calendar = radicale.mkcalendar("alice")
        cfg = make_config(smtp_port=smtp_server.port, caldav_url=radicale.url, spool_dir=radicale.spool_dir,
                          reconcile_seconds=1)
        thread = threading.Thread(target=service.run, args=(cfg, stop), daemon=True)
        thread.start()
        wait_for(lambda: "reconcile: 1 calendars" in caplog.text, what="baseline reconciliation")
        href = calendar + "rec.ics"
        radicale.put(href, event_ics(uid="rec-1"))
        wait_for(lambda: len(smtp_server.received()) == 1, what="the REQUEST")
        radicale.put(href, event_ics(uid="rec-1", sequence=1, start="20300110T140000", end="20300110T150000"))
        wait_for(lambda: len(smtp_server.received()) == 2, what="the update")
        passes = caplog.text.count("reconcile: 1 calendars")
        wait_for(lambda: caplog.text.count("reconcile: 1 calendars") >= passes + 2, timeout=20,
                 what="two more reconciliation passes")
        time.sleep(1)
        assert summary(smtp_server) == [("REQUEST", "bob@external.test", 0), ("REQUEST", "bob@external.test", 1)]
    finally:
        stop.set()
        stop_radicale(radicale)


def test_sighup_retries_now_after_the_login_was_fixed(tmp_path, make_config, smtp_server, radicale):
    """The SMTP login is refused (a drifted password), so the gateway backs off for 10 minutes; the
    password is put right and `systemctl reload imip-gateway` (SIGHUP) sends the invitation at once."""
    smtp_server.password = "not-what-the-gateway-has"
    calendar = radicale.mkcalendar("alice")
    cfg = make_config(smtp_port=smtp_server.port, caldav_url=radicale.url, spool_dir=radicale.spool_dir,
                      retry_base_seconds=600)
    cmd = [sys.executable, "-m", "imip_gateway", "run", "--config", str(cfg.path)]
    with open(tmp_path / "gw.log", "wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=os.environ)
    try:
        radicale.put(calendar + "hup.ics", event_ics(uid="hup-1"))
        wait_for(lambda: "SMTP unavailable, next attempt in" in (tmp_path / "gw.log").read_text(),
                 what="the refused login and the backoff")
        smtp_server.password = SMTP_PASSWORD          # the administrator fixed the copy
        time.sleep(2)
        assert not smtp_server.received(), "sent before the backoff was over or SIGHUP was sent"
        proc.send_signal(signal.SIGHUP)
        wait_for(smtp_server.received, timeout=15, what="the invitation after SIGHUP")
        assert summary(smtp_server) == [("REQUEST", "bob@external.test", 0)]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_SECONDS) == 0
    logs = (tmp_path / "gw.log").read_text()
    assert "asked to retry now (SIGHUP): 1 pending job(s) due, SMTP backoff reset" in logs
    assert all(secret not in logs for secret in SECRETS)


def test_sighup_with_nothing_queued_checks_the_login(tmp_path, make_config, smtp_server):
    """With no invitation waiting, a retry request logs in anyway: the status then says whether
    the login works (what the imip_gateway role reads before it asks for a retry)."""
    smtp_server.password = "not-what-the-gateway-has"
    cfg = make_config(smtp_port=smtp_server.port)
    cmd = [sys.executable, "-m", "imip_gateway", "run", "--config", str(cfg.path)]

    def login_ok():
        out = subprocess.run([sys.executable, "-m", "imip_gateway", "status", "--json", "--config", str(cfg.path)],
                             capture_output=True, text=True, env=os.environ, check=False)
        return json.loads(out.stdout)["outbound"]["smtp"]["last_login_ok"]

    log_path = tmp_path / "gw.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=os.environ)
    try:
        wait_for(lambda: "imip-gateway started" in log_path.read_text(), what="the start")
        assert login_ok() is None
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: login_ok() is False, what="the refused login recorded")
        smtp_server.password = SMTP_PASSWORD
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: login_ok() is True, what="the accepted login recorded")
        assert not smtp_server.received()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_SECONDS) == 0
    logs = log_path.read_text()
    assert "SMTP login check: authentication failed for" in logs and "SMTP login check: login at" in logs
    assert all(secret not in logs for secret in SECRETS)
