"""Delivery against a real SMTP server (aiosmtpd, STARTTLS + AUTH): one job never
stops the queue (non-ASCII addresses: SMTPUTF8, IDNA, or that job alone fails), a sender or
session 5xx pauses the queue instead of failing jobs, the long end-of-data wait, the From
header within 998 octets, the planned order of one change's jobs."""

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.utils import parseaddr

import pytest
from aiosmtpd.controller import Controller
from conftest import SMTP_PASSWORD, SMTPServer, _Handler, event_ics, free_port

from imip_gateway import db
from imip_gateway.outbound import changes, delivery
from imip_gateway.submission import Submitter

IDN_LOCAL = "jörg@bücher.example"      # needs SMTPUTF8 (non-ASCII local part)
IDN_DOMAIN = "anna@bücher.example"     # ASCII local part: xn--bcher-kva.example


class _StrictHandler(_Handler):
    # pylint: disable=invalid-name
    async def handle_MAIL(self, _server, _session, envelope, address, mail_options):
        if self.server.mail_reply:
            return self.server.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


@dataclass
class StrictSMTPServer(SMTPServer):
    """The conftest server (which offers SMTPUTF8, aiosmtpd's Controller default, as Postfix does),
    optionally without SMTPUTF8 and refusing MAIL FROM (as reject_sender_login_mismatch does)."""
    smtputf8: bool = True
    mail_reply: str | None = None

    def start(self) -> None:
        self.controller = Controller(_StrictHandler(self), hostname="127.0.0.1", port=self.port,
                                     server_hostname="smtp.test", tls_context=self.tls_context,
                                     require_starttls=True, auth_required=True, auth_require_tls=True,
                                     authenticator=self.authenticate, enable_SMTPUTF8=self.smtputf8)
        self.controller.start()


@pytest.fixture
def make_queue(make_config, smtp_server):
    """A queue for the conftest server or a StrictSMTPServer."""
    servers = []

    def make(server=None):
        if server is None:
            server = smtp_server
        else:
            server.tls_context = smtp_server.tls_context
            server.start()
            servers.append(server)
        cfg = make_config(smtp_port=server.port)
        conn = db.connect(cfg.gateway.db_path)

        def add(attendees=("bob@external.test",), uid="evt-1", **params):
            conn.execute("INSERT INTO changes (id, source, received, type, point, content_type, new_content, actor)"
                         " VALUES (?, 'hook', ?, 'upsert', 'alice/calendar', 'VCALENDAR', ?, 'alice')",
                         (f"{time.time_ns()}", time.time(), event_ics(uid=uid, attendees=attendees, **params)))
            changes.process_pending(conn, cfg)
        return cfg, conn, add, server
    yield make
    for server in servers:
        server.stop()


def submitter(cfg, password=SMTP_PASSWORD, timeout=5):
    return Submitter(cfg.smtp.host, cfg.smtp.port, cfg.smtp.user, password, ca_file=cfg.smtp.ca_file, timeout=timeout)


def job_of(conn, attendee):
    return conn.execute("SELECT * FROM jobs WHERE attendee = ?", ("mailto:" + attendee,)).fetchone()


def received_by(server, address):
    return [m for m in server.received() if address in m.rcpt_tos]


def header_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


# ---------------------------------------------------------------- item 1: non-ASCII attendees
def test_idn_attendee_with_an_smtputf8_server_is_sent_and_never_stops_the_queue(make_queue):
    """Before: smtplib raised TypeError ('utf8' is an invalid keyword argument for Compat32) out
    of drain() on this job, every round, and nothing was ever sent again."""
    cfg, conn, add, server = make_queue()
    assert server.controller.SMTP_kwargs["enable_SMTPUTF8"] is True
    add(attendees=(IDN_LOCAL, "bob@external.test"))
    add(attendees=("carl@external.test",), uid="evt-2")
    sub = submitter(cfg)
    result = delivery.drain(conn, cfg, sub)
    sub.close()
    assert (result.sent, result.failed, result.deferred) == (3, 0, 0)
    recipients = {r for m in server.received() for r in m.rcpt_tos}
    assert recipients == {IDN_LOCAL, "bob@external.test", "carl@external.test"}
    (message,) = received_by(server, IDN_LOCAL)
    # RFC 6532: the address in UTF-8 in the header, not an encoded-word.
    assert "To: jörg@bücher.example".encode() in header_lines(message.data)
    assert job_of(conn, IDN_LOCAL)["state"] == "sent"


def test_without_smtputf8_only_that_attendee_fails_with_the_reason(make_queue, caplog):
    """Before: smtplib's SMTPNotSupportedError was taken for a connection failure: every batch stopped."""
    cfg, conn, add, server = make_queue(StrictSMTPServer(port=free_port(), smtputf8=False))
    add(attendees=(IDN_LOCAL, "bob@external.test"))
    add(attendees=("carl@external.test",), uid="evt-2")
    sub = submitter(cfg)
    result = delivery.drain(conn, cfg, sub)
    sub.close()
    assert (result.sent, result.failed, result.stopped) == (2, 1, None)
    assert sorted(r for m in server.received() for r in m.rcpt_tos) == ["bob@external.test", "carl@external.test"]
    failed = job_of(conn, IDN_LOCAL)
    assert failed["state"] == "failed" and "needs SMTPUTF8 (RFC 6531)" in failed["last_error"]
    row = conn.execute("SELECT * FROM schedule_status").fetchone()
    assert (row["attendee"], row["status"]) == ("mailto:" + IDN_LOCAL, "5.1")
    assert "needs SMTPUTF8" in caplog.text
    assert db.get_meta(conn, "smtp.paused_reason", "") == ""


def test_ascii_local_part_with_an_idn_domain_goes_out_as_idna(make_queue):
    cfg, conn, add, server = make_queue(StrictSMTPServer(port=free_port(), smtputf8=False))
    add(attendees=(IDN_DOMAIN,))
    sub = submitter(cfg)
    assert delivery.drain(conn, cfg, sub).sent == 1
    sub.close()
    (message,) = server.received()
    assert message.rcpt_tos == ["anna@xn--bcher-kva.example"]
    assert b"To: anna@xn--bcher-kva.example" in header_lines(message.data)


def test_a_job_with_broken_stored_data_costs_that_job_only(make_queue, caplog):
    """Whatever one job raises, drain() returns and the other jobs go out."""
    cfg, conn, add, server = make_queue()
    add(attendees=("bob@external.test", "carl@external.test"))
    conn.execute("UPDATE jobs SET sequences = '{\"\": \"not a number\"}' WHERE attendee = 'mailto:bob@external.test'")
    conn.execute("UPDATE jobs SET display = 'not json' WHERE attendee = 'mailto:carl@external.test'")
    add(attendees=("dave@external.test",), uid="evt-2")
    sub = submitter(cfg)
    result = delivery.drain(conn, cfg, sub)
    sub.close()
    assert {r for m in server.received() for r in m.rcpt_tos} == {"bob@external.test", "dave@external.test"}
    # Sent once and marked sent: never sent again for a SEQUENCE it could not record.
    assert job_of(conn, "bob@external.test")["state"] == "sent"
    assert delivery.drain(conn, cfg, submitter(cfg)).sent == 0
    carl = job_of(conn, "carl@external.test")
    assert carl["state"] == "failed" and carl["last_error"].startswith("cannot build the message")
    assert result.sent == 2 and "SEQUENCE not recorded" in caplog.text


# ---------------------------------------------------------------- item 9: sender / session problems
def test_mail_from_refused_pauses_the_queue_and_fails_no_job(make_queue, caplog):
    """A sender-login mismatch (553 to MAIL FROM) is the sender's problem, not the attendee's:
    before, every job failed for good with SCHEDULE-STATUS 5.1."""
    cfg, conn, add, server = make_queue(StrictSMTPServer(
        port=free_port(), mail_reply="553 5.7.1 Sender address rejected: not owned by user"))
    add(attendees=("bob@external.test", "carl@external.test"))
    sub = submitter(cfg)
    result = delivery.drain(conn, cfg, sub)
    assert result.failed == 0 and result.stopped and "553" in result.stopped
    assert [j["state"] for j in conn.execute("SELECT state FROM jobs")] == ["pending", "pending"]
    assert conn.execute("SELECT count(*) FROM schedule_status").fetchone()[0] == 0
    reason = db.get_meta(conn, "smtp.paused_reason")
    assert reason.startswith("sender calendar-invites+") and "553 5.7.1 Sender address rejected" in reason
    since = db.get_meta(conn, "smtp.paused_since")
    assert float(since) <= time.time()
    assert "sending paused, 2 job(s) kept" in caplog.text
    # Still refused: paused since the first refusal.
    conn.execute("UPDATE jobs SET next_attempt = 0")
    delivery.drain(conn, cfg, sub)
    assert db.get_meta(conn, "smtp.paused_since") == since
    # Fixed: the next 250 clears the pause.
    server.mail_reply = None
    conn.execute("UPDATE jobs SET next_attempt = 0")
    assert delivery.drain(conn, cfg, sub).sent == 2
    sub.close()
    assert db.get_meta(conn, "smtp.paused_reason") == "" and db.get_meta(conn, "smtp.paused_since") == ""


def test_auth_refused_pauses_the_queue(make_queue):
    cfg, conn, add, _server = make_queue()
    add()
    result = delivery.drain(conn, cfg, submitter(cfg, password="wrong"))
    assert result.stopped and job_of(conn, "bob@external.test")["state"] == "pending"
    assert db.get_meta(conn, "smtp.paused_reason").startswith("authentication failed for")


def _refusing_greeter(port: int, stop: threading.Event) -> threading.Thread:
    """A server that greets every connection with 554 (RFC 5321 §3.1: no service here)."""
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(0.2)

    def serve():
        with listener:
            while not stop.is_set():
                try:
                    conn, _addr = listener.accept()
                except socket.timeout:
                    continue
                with conn:
                    conn.sendall(b"554 5.3.2 smtp.test no SMTP service here\r\n")
                    conn.recv(1024)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_a_5xx_greeting_pauses_the_queue(make_config):
    port = free_port()
    stop = threading.Event()
    thread = _refusing_greeter(port, stop)
    try:
        cfg = make_config(smtp_port=port)
        conn = db.connect(cfg.gateway.db_path)
        conn.execute("INSERT INTO changes (id, source, received, type, point, content_type, new_content, actor)"
                     " VALUES ('c1', 'hook', ?, 'upsert', 'alice/calendar', 'VCALENDAR', ?, 'alice')",
                     (time.time(), event_ics()))
        changes.process_pending(conn, cfg)
        result = delivery.drain(conn, cfg, submitter(cfg))
    finally:
        stop.set()
        thread.join(5)
    assert result.failed == 0 and "554" in result.stopped
    assert job_of(conn, "bob@external.test")["state"] == "pending"
    assert conn.execute("SELECT count(*) FROM schedule_status").fetchone()[0] == 0
    assert "554 5.3.2" in db.get_meta(conn, "smtp.paused_reason")


def test_a_recipient_5xx_still_fails_only_that_job(make_queue):
    cfg, conn, add, server = make_queue()
    add(attendees=("bob@external.test", "carl@external.test"))
    server.mode = "permfail"
    result = delivery.drain(conn, cfg, submitter(cfg))
    assert (result.failed, result.stopped) == (2, None)
    assert db.get_meta(conn, "smtp.paused_reason", "") == ""


# ---------------------------------------------------------------- lesser items
def test_the_end_of_data_reply_is_awaited_longer_than_the_command_timeout(make_queue):
    """RFC 5321 §4.5.3.2.6: ten minutes for the reply to the end of DATA. Before, the command
    timeout (here 1 s) applied: a slow content filter made every message a resend."""
    cfg, conn, add, server = make_queue()
    add()
    server.delay = 2.5
    sub = submitter(cfg, timeout=1)
    result = delivery.drain(conn, cfg, sub)
    sub.close()
    assert result.sent == 1 and job_of(conn, "bob@external.test")["state"] == "sent"


@pytest.mark.parametrize("name", ["A" * 2000, "Jörg " + "Ä" * 700 + " Müller"])
def test_a_long_organizer_name_is_folded_within_998_octets(make_queue, name):
    cfg, conn, add, server = make_queue()
    add(organizer_params=f";CN={name}")
    sub = submitter(cfg)
    assert delivery.drain(conn, cfg, sub).sent == 1
    sub.close()
    data = server.received()[0].data
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    raw_from = email.message_from_bytes(data)["From"]
    display, address = parseaddr(str(make_header(decode_header(raw_from))))
    assert (display, address) == (f"{name} (via Example)", cfg.invitations.address)


def test_jobs_of_one_change_go_out_in_planned_order(make_queue):
    """Jobs of one change share their creation time; jobs.position (the plan's order) decides,
    not the random id, and a later job for the same attendee waits while an earlier one is pending."""
    cfg, conn, add, server = make_queue()
    add()
    request = job_of(conn, "bob@external.test")
    conn.execute("INSERT INTO jobs (id, change_id, created, position, method, reason, uid, point, organizer,"
                 " organizer_name, attendee, token, calendar, message_id, next_attempt)"
                 " SELECT '0-cancel', change_id, created, 1, 'CANCEL', 'cancelled', uid, point, organizer,"
                 " organizer_name, attendee, token, replace(calendar, 'METHOD:REQUEST', 'METHOD:CANCEL'),"
                 " '<0-cancel@example.test>', 0 FROM jobs WHERE id = ?", (request["id"],))
    # The CANCEL's id sorts first; it was planned second.
    assert [j["id"] for j in delivery.due_jobs(conn, time.time(), 10)] == [request["id"]]
    sub = submitter(cfg)
    assert delivery.drain(conn, cfg, sub).sent == 1
    assert delivery.drain(conn, cfg, sub).sent == 1
    sub.close()
    ids = [email.message_from_bytes(m.data, policy=email.policy.default)["Message-ID"] for m in server.received()]
    assert ids == [request["message_id"], "<0-cancel@example.test>"]
