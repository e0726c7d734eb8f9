"""Delivery against a real SMTP server (aiosmtpd, STARTTLS + AUTH): a job leaves the queue only
after 250; 4xx retries with backoff; 5xx is permanent and queues SCHEDULE-STATUS; a wrong
password is one log line, jobs kept, visible in `status`."""

import email
import email.policy
import json
import logging
import subprocess
import time

import pytest
from conftest import SECRETS, SMTP_PASSWORD, event_ics

from imip_gateway import cli, db
from imip_gateway.outbound import changes, delivery
from imip_gateway.submission import Submitter


@pytest.fixture
def queue(make_config, smtp_server):
    cfg = make_config(smtp_port=smtp_server.port)
    conn = db.connect(cfg.gateway.db_path)

    def add(attendees=("bob@external.test",), uid="evt-1"):
        conn.execute("INSERT INTO changes (id, source, received, type, point, content_type, new_content, actor)"
                     " VALUES (?, 'hook', ?, 'upsert', 'alice/calendar', 'VCALENDAR', ?, 'alice')",
                     (f"{time.time_ns()}", time.time(), event_ics(uid=uid, attendees=attendees)))
        changes.process_pending(conn, cfg)
    return cfg, conn, add, smtp_server


def submitter(cfg, password=SMTP_PASSWORD):
    return Submitter(cfg.smtp.host, cfg.smtp.port, cfg.smtp.user, password, ca_file=cfg.smtp.ca_file, timeout=5)


def jobs(conn):
    return conn.execute("SELECT * FROM jobs ORDER BY attendee").fetchall()


def test_sent_over_starttls_with_auth_and_logged(queue, caplog):
    cfg, conn, add, server = queue
    add(attendees=("bob@external.test", "carl@external.test"))
    caplog.set_level(logging.INFO)
    sub = submitter(cfg)
    result = delivery.drain(conn, cfg, sub)
    sub.close()
    assert (result.sent, result.failed, result.deferred) == (2, 0, 0)
    got = server.received()
    assert len(got) == 2 and all(m.tls and m.authenticated_as == cfg.smtp.user for m in got)
    assert sorted(r for m in got for r in m.rcpt_tos) == ["bob@external.test", "carl@external.test"]
    for job in jobs(conn):
        assert job["state"] == "sent" and job["sent"]
        received = next(m for m in got if job["attendee"][7:] in m.rcpt_tos)
        parsed = email.message_from_bytes(received.data, policy=email.policy.default)
        assert parsed["Message-ID"] == job["message_id"]
        # The envelope sender carries the job's token, so even a bounce that is no DSN names the
        # job; the From header stays the invitation address (SPF/DKIM/DMARC alignment).
        assert received.mail_from == f"calendar-invites+{job['token']}@example.test"
        assert parsed["From"].addresses[0].addr_spec == "calendar-invites@example.test"
        # One line per message with Message-ID, job, UID and attendee.
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sent ")]
        assert any(f"message_id={job['message_id']} job={job['id']} REQUEST uid=evt-1 attendee={job['attendee'][7:]}"
                   in line for line in lines)
    assert db.get_meta(conn, "smtp.last_login_ok") == "true"
    assert all(secret not in caplog.text for secret in SECRETS)


def test_temporary_failure_keeps_job_and_backs_off(queue):
    cfg, conn, add, server = queue
    add()
    server.mode = "tempfail"
    sub = submitter(cfg)
    result = delivery.drain(conn, cfg, sub)
    assert (result.sent, result.deferred) == (0, 1)
    job = jobs(conn)[0]
    assert job["state"] == "pending" and job["attempts"] == 1 and "451" in job["last_error"]
    assert job["next_attempt"] >= job["last_attempt"] + cfg.gateway.retry_base_seconds - 0.01
    # Not due yet: nothing is tried.
    assert delivery.drain(conn, cfg, sub).deferred == 0
    # Second failure doubles the delay.
    conn.execute("UPDATE jobs SET next_attempt = 0")
    delivery.drain(conn, cfg, sub)
    job = jobs(conn)[0]
    assert job["attempts"] == 2
    assert job["next_attempt"] - job["last_attempt"] == pytest.approx(2 * cfg.gateway.retry_base_seconds, abs=0.01)
    # Server fixed: sent, with the same Message-ID it had from the start.
    server.mode = "ok"
    conn.execute("UPDATE jobs SET next_attempt = 0")
    assert delivery.drain(conn, cfg, sub).sent == 1
    sub.close()
    parsed = email.message_from_bytes(server.received()[0].data, policy=email.policy.default)
    assert parsed["Message-ID"] == job["message_id"] and jobs(conn)[0]["state"] == "sent"


def test_retry_days_exhausted_fails_and_queues_schedule_status(queue):
    cfg, conn, add, server = queue
    add()
    server.mode = "tempfail"
    conn.execute("UPDATE jobs SET created = created - ?", ((cfg.gateway.retry_days + 1) * 86400,))
    sub = submitter(cfg)
    delivery.drain(conn, cfg, sub)
    sub.close()
    job = jobs(conn)[0]
    assert job["state"] == "failed" and job["last_error"].startswith("gave up after 5 days")
    row = conn.execute("SELECT * FROM schedule_status").fetchone()
    assert (row["attendee"], row["status"], row["uid"]) == ("mailto:bob@external.test", "5.1", "evt-1")


def test_permanent_failure(queue, caplog):
    cfg, conn, add, server = queue
    add()
    server.mode = "permfail"
    caplog.set_level(logging.INFO)
    sub = submitter(cfg)
    result = delivery.drain(conn, cfg, sub)
    sub.close()
    assert result.failed == 1
    job = jobs(conn)[0]
    assert job["state"] == "failed" and "550" in job["last_error"]
    row = conn.execute("SELECT * FROM schedule_status").fetchone()
    assert row["status"].startswith("5.") and row["attendee"] == "mailto:bob@external.test"
    assert "rejected message_id=" in caplog.text


def test_connection_refused_is_temporary(queue):
    cfg, conn, add, server = queue
    add()
    server.stop()
    sub = submitter(cfg)
    result = delivery.drain(conn, cfg, sub)
    assert result.deferred == 1 and result.stopped and "cannot submit to 127.0.0.1" in result.stopped
    server.start()
    assert jobs(conn)[0]["state"] == "pending"


def test_wrong_password_one_line_jobs_kept_status_shows_it(queue, caplog, capsys):
    cfg, conn, add, server = queue
    add(attendees=("bob@external.test", "carl@external.test"))
    caplog.set_level(logging.DEBUG)
    sub = submitter(cfg, password="wrong-" + SMTP_PASSWORD)
    result = delivery.drain(conn, cfg, sub)
    assert result.deferred == 1 and result.stopped  # the batch stops at the first auth failure
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    assert errors[0].getMessage().startswith(
        f"authentication failed for {cfg.smtp.user} at 127.0.0.1:{server.port}: 535")
    assert "Traceback" not in caplog.text and SMTP_PASSWORD not in caplog.text
    assert [j["state"] for j in jobs(conn)] == ["pending", "pending"]
    assert server.received() == []

    assert cli.main(["status", "--json", "--config", str(cfg.path)]) == 1
    report = json.loads(capsys.readouterr().out)
    smtp = report["outbound"]["smtp"]
    assert smtp["last_login_ok"] is False and smtp["last_error"].startswith("authentication failed for")
    assert report["outbound"]["queue_depth"] == 2
    assert report["outbound"]["oldest_pending"]["attendee"] in ("bob@external.test", "carl@external.test")
    assert cli.main(["status", "--config", str(cfg.path)]) == 1
    human = capsys.readouterr().out
    assert "✖ last SMTP login: FAILED" in human and "queue depth: 2 pending" in human


def test_untrusted_tls_certificate_is_temporary_and_named(queue, tmp_path):
    cfg, conn, add, server = queue
    add()
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
                    "-keyout", str(tmp_path / "k.pem"), "-out", str(other_ca)], check=True, capture_output=True)
    sub = Submitter(cfg.smtp.host, cfg.smtp.port, cfg.smtp.user, SMTP_PASSWORD, ca_file=other_ca, timeout=5)
    result = delivery.drain(conn, cfg, sub)
    assert result.deferred == 1 and result.stopped.startswith(f"TLS with 127.0.0.1:{server.port} failed")
    assert "CERTIFICATE_VERIFY_FAILED" in result.stopped
    assert jobs(conn)[0]["state"] == "pending" and server.received() == []


def test_a_later_message_to_the_same_attendee_waits_for_an_earlier_one_in_backoff(queue):
    """A CANCEL queued while the REQUEST of the same event waits out a retry must not overtake it:
    the attendee would get the cancellation first and then an invitation to a deleted event."""
    cfg, conn, add, server = queue
    add()
    server.mode = "tempfail"
    sub = submitter(cfg)
    delivery.drain(conn, cfg, sub)
    request = jobs(conn)[0]
    assert request["state"] == "pending" and request["next_attempt"] > time.time()
    conn.execute("INSERT INTO jobs (id, change_id, created, method, reason, uid, point, organizer, organizer_name,"
                 " attendee, token, calendar, message_id, next_attempt)"
                 " SELECT 'cancel-1', change_id, created + 1, 'CANCEL', 'deleted', uid, point, organizer,"
                 " organizer_name, attendee, token, replace(calendar, 'METHOD:REQUEST', 'METHOD:CANCEL'),"
                 " '<cancel-1@example.test>', 0"
                 " FROM jobs WHERE id = ?",
                 (request["id"],))
    server.mode = "ok"
    assert delivery.drain(conn, cfg, sub).sent == 0, "the CANCEL overtook the REQUEST in backoff"
    conn.execute("UPDATE jobs SET next_attempt = 0 WHERE id = ?", (request["id"],))
    assert delivery.drain(conn, cfg, sub).sent == 1   # the REQUEST; the CANCEL is due in the next round
    assert delivery.drain(conn, cfg, sub).sent == 1
    sub.close()
    ids = [email.message_from_bytes(m.data, policy=email.policy.default)["Message-ID"] for m in server.received()]
    assert ids == [request["message_id"], "<cancel-1@example.test>"]
