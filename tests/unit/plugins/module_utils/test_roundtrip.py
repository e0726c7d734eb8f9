# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The round trip's engine: iCalendar text, the attendee's Maildir (a real one, in tmp_path), and
the CalDAV error paths (a fake opener: a refused login and a server that never answers cannot be
produced on demand). The working round trip runs against the lab (check.yml -e imip_check_roundtrip=true)."""

from __future__ import annotations

import mailbox
import socket
from email.message import EmailMessage
from urllib.error import HTTPError, URLError

import pytest

from ansible_collections.imip.server.plugins.module_utils import _roundtrip as rt

TOKEN_ADDRESS = "calendar-invites+0f3c9a1e-2b7d-4f61-9a55-1c2d3e4f5a6b@example.test"
PASSWORD = "organizer-secret-do-not-print"


def itip(uid, method="REQUEST", organizer=TOKEN_ADDRESS, verdict="ext.external.test; dkim=pass header.d=example.test; spf=pass"):
    """An iTIP message as the gateway mails it (folded ORGANIZER line with CN and EMAIL), with the
    Authentication-Results the attendee's provider adds on arrival."""
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:%s\r\nBEGIN:VEVENT\r\nUID:%s\r\nSEQUENCE:0\r\n"
            "DTSTART:20261201T100000Z\r\nDTEND:20261201T110000Z\r\nSUMMARY:Planning\r\n"
            "ORGANIZER;CN=\"Alice: planner\";EMAIL=alice@example.test:mailto:\r\n %s\r\n"
            "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:attendee@external.test\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n") % (method, uid, organizer)
    msg = EmailMessage()
    if verdict:
        msg["Authentication-Results"] = verdict
    msg["From"] = "Alice <calendar-invites@example.test>"
    msg["To"] = "attendee@external.test"
    msg["Subject"] = "Invitation: Planning"
    msg.set_content("You are invited.\n")
    msg.add_alternative(text, subtype="calendar", params={"method": method})
    return msg


def deliver(maildir, msg):
    box = mailbox.Maildir(str(maildir), create=True)
    return box.add(msg)


def no_wait(probe, timeout):
    """wait_for without sleeping: one look (a timeout when nothing is there yet)."""
    result = probe()
    return result, 0.0 if result else timeout


def test_unfold_and_properties_read_a_folded_quoted_line():
    props = rt.properties(itip("u1").get_body(("calendar",)).get_content())
    assert rt.value_of(props, "ORGANIZER") == "mailto:" + TOKEN_ADDRESS
    assert dict((n, p) for n, p, v in props)["ORGANIZER"] == {"CN": "Alice: planner", "EMAIL": "alice@example.test"}


def test_partstat_of_the_attendee():
    text = rt.event("u1", "alice@example.test", "Attendee@External.test", 0)
    assert rt.partstat(text, "attendee@external.test") == "NEEDS-ACTION"
    assert rt.partstat(text.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED"), "attendee@external.test") == "ACCEPTED"
    assert rt.partstat(text, "bob@external.test") is None


def test_the_reply_goes_to_the_organizer_token_address_with_the_attendee_accepted():
    request = itip("u1")
    to, msg = rt.reply(request.get_body(("calendar",)).get_content(), request, "attendee@external.test")
    assert to == TOKEN_ADDRESS
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REPLY"
    text = part.get_payload(decode=True).decode()
    assert rt.method(text) == "REPLY"
    assert rt.partstat(text, "attendee@external.test") == "ACCEPTED"
    assert rt.value_of(rt.properties(text), "UID") == "u1"


def test_mask_token():
    assert rt.mask_token(TOKEN_ADDRESS) == "calendar-invites+\u2026@example.test"


def test_answer_finds_the_request_and_sends_the_reply_through_the_mta(tmp_path):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("other-uid"))
    deliver(maildir, itip("u1"))
    sent = []
    got = rt.answer(str(maildir), "u1", "attendee@external.test", 5, wait=no_wait,
                    sender=lambda msg, frm, to, host, port, timeout: sent.append((frm, to, host, port)))
    assert sent == [("attendee@external.test", TOKEN_ADDRESS, "127.0.0.1", 25)]
    assert got["replied"] is True
    assert [(c["id"], c["status"]) for c in got["checks"]] == [("roundtrip.invitation", "ok"), ("roundtrip.authentication", "ok")]
    assert got["checks"][1]["message"] == "ext.external.test verified the invitation: dkim=pass (example.test), spf=pass"
    assert TOKEN_ADDRESS not in repr(got)  # the token stays on the vantage host


@pytest.mark.parametrize("verdict, status, says", [
    (None, "unknown", "wrote no Authentication-Results"),
    ("ext.external.test; dkim=none; spf=pass smtp.mailfrom=calendar-invites@example.test", "fail",
     "found no valid DKIM signature for example.test on the invitation: dkim=none, spf=pass (example.test)"),
    # A signature of another domain (a relay's) does not authenticate ours.
    ("ext.external.test; dkim=pass header.d=relay.test", "fail", "dkim=pass (relay.test)"),
    # A subdomain's signature is aligned; only the topmost writer's headers count.
    ("mx.external.test; dkim=pass (good) header.d=mail.example.test", "ok", "mx.external.test verified"),
    # DMARC, when the provider judges it, must pass too; spf alone may fail (forwarding).
    ("ext.external.test; dkim=pass header.d=example.test; spf=fail smtp.mailfrom=example.test; dmarc=pass header.from=example.test",
     "ok", "dmarc=pass (example.test)"),
    ("ext.external.test; dkim=pass header.d=example.test; dmarc=fail (p=quarantine) header.from=example.test", "fail",
     "found a valid DKIM signature for example.test but DMARC did not pass: dkim=pass (example.test), dmarc=fail (example.test)"),
])
def test_the_providers_verdict_on_the_invitation(tmp_path, verdict, status, says):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("u1", verdict=verdict))
    got = rt.answer(str(maildir), "u1", "attendee@external.test", 5, wait=no_wait, sender=lambda *a: None)
    check = next(c for c in got["checks"] if c["id"] == "roundtrip.authentication")
    assert check["status"] == status and says in check["message"], check
    if status == "fail":
        assert any("dkimpy-milter" in line or "_dmarc.example.test" in line for line in check["fix"])


def test_answer_without_a_request_is_a_failure_that_says_where_to_look(tmp_path):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("u1", method="CANCEL"))
    got = rt.answer(str(maildir), "u1", "attendee@external.test", 120, wait=no_wait,
                    sender=lambda *a: pytest.fail("nothing to reply to"))
    check, reply = got["checks"]
    assert (reply["id"], reply["status"], reply["message"]) == (
        "roundtrip.reply", "unknown", "not tried: there was no invitation to answer")
    assert (check["id"], check["status"]) == ("roundtrip.invitation", "fail")
    assert check["message"] == "no invitation reached attendee@external.test's mailbox within 120 s"
    assert any("imip-gateway status" in line for line in check["fix"])
    assert got["replied"] is False


def test_answer_when_the_mta_refuses_the_reply(tmp_path):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("u1"))

    def refuse(*args):
        raise ConnectionRefusedError(111, "Connection refused")

    got = rt.answer(str(maildir), "u1", "attendee@external.test", 5, wait=no_wait, sender=refuse)
    assert [(c["id"], c["status"]) for c in got["checks"]] == [("roundtrip.invitation", "ok"), ("roundtrip.authentication", "ok"), ("roundtrip.reply", "fail")]
    assert "Connection refused" in got["checks"][2]["message"]


def test_cleanup_waits_for_the_cancel_and_removes_only_the_round_trip_messages(tmp_path):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("u1"))
    deliver(maildir, itip("u1", method="CANCEL"))
    keep = deliver(maildir, itip("someone-else"))
    check = rt.cleanup(str(maildir), "u1", "attendee@external.test", {"deleted": True, "error": ""}, 60, wait=no_wait)
    assert (check["id"], check["status"]) == ("roundtrip.cleanup", "ok")
    assert "2 message(s) were removed" in check["message"]
    # The CANCEL's half minute is the gateway's wait for a move; the line says so, not "slow".
    assert "in case the event was moved" in check["message"]
    assert list(mailbox.Maildir(str(maildir)).keys()) == [keep]


def test_cleanup_without_the_cancel_fails_but_still_removes_the_messages(tmp_path):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("u1"))
    check = rt.cleanup(str(maildir), "u1", "attendee@external.test", {"deleted": True, "error": ""}, 60, wait=no_wait)
    assert check["status"] == "fail"
    assert "CANCEL did not reach" in check["fix"][0]
    assert not list(mailbox.Maildir(str(maildir)).keys())


def test_cleanup_names_an_event_that_could_not_be_deleted(tmp_path):
    check = rt.cleanup(str(tmp_path / "none"), "u1", "attendee@external.test",
                       {"deleted": False, "error": "DELETE ... answered 500"}, 60, wait=no_wait)
    assert check["status"] == "fail"
    assert check["fix"] == ["delete the event u1 from the organizer's calendar by hand (DELETE ... answered 500)"]


class FakeOpener(object):
    """open_url's error paths: each call raises the next error."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = []

    def __call__(self, url, **kwargs):
        self.calls.append((kwargs["method"], url, kwargs["url_password"]))
        raise self.errors.pop(0)


def http_error(code, reason):
    return HTTPError("https://cal.example.test/", code, reason, {}, None)


def test_a_refused_organizer_login_is_a_failure_naming_the_variable():
    opener = FakeOpener(http_error(401, "Unauthorized"))
    dav = rt.CalDav("https://cal.example.test/", "alice@example.test", PASSWORD, opener=opener)
    made = rt.invite(dav, "alice@example.test", "attendee@external.test", "imip-status-check", retries=2)
    (check,) = made["checks"]
    assert (check["id"], check["status"]) == ("roundtrip.invitation", "fail")
    assert "answered 401 Unauthorized" in check["message"]
    assert "imip_check_roundtrip_organizer_password" in check["fix"][0]
    assert len(opener.calls) == 1  # a refusal is not retried
    assert made["href"] is None
    assert PASSWORD not in repr(made)


def test_a_server_that_never_answers_is_retried_then_unknown():
    opener = FakeOpener(*[URLError(socket.timeout("timed out")) for dummy in range(3)])
    dav = rt.CalDav("https://cal.example.test/", "alice@example.test", PASSWORD, opener=opener)
    made = rt.invite(dav, "alice@example.test", "attendee@external.test", "imip-status-check", retries=2)
    (check,) = made["checks"]
    assert check["status"] == "unknown"
    assert [c[0] for c in opener.calls] == ["MKCALENDAR"] * 3


def test_the_finish_step_deletes_even_when_reading_fails():
    class Dav(object):
        deleted = []

        def delete(self, path):
            self.deleted.append(path)
            return True

    made = {"href": "alice@example.test/c/u1.ics", "calendar": "alice@example.test/c/", "created_calendar": True}
    removal = rt.remove_test_event(Dav(), made, 2)
    assert (removal["deleted"], removal["error"]) == (True, "")
    assert Dav.deleted == ["alice@example.test/c/u1.ics", "alice@example.test/c/"]


def test_cleanup_after_an_invitation_that_never_arrived_does_not_wait_for_a_cancel(tmp_path):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("old%s" % rt.UID_SUFFIX))  # left by an interrupted round trip
    check = rt.cleanup(str(maildir), "u1", "attendee@external.test", {"deleted": True, "error": ""}, 60,
                       expect_cancel=False, wait=lambda *a: pytest.fail("must not wait"))
    assert check["status"] == "ok"
    assert check["message"].startswith("the test event was deleted (no CANCEL expected")
    assert not list(mailbox.Maildir(str(maildir)).keys())


def test_an_mta_that_never_answers_is_retried_then_unknown(tmp_path):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("u1"))
    tries = []

    def silent(*args):
        tries.append(args)
        raise socket.timeout("timed out")

    got = rt.answer(str(maildir), "u1", "attendee@external.test", 5, wait=no_wait, sender=silent, retries=2)
    assert len(tries) == 3
    assert [(c["id"], c["status"]) for c in got["checks"]] == [
        ("roundtrip.invitation", "ok"), ("roundtrip.authentication", "ok"), ("roundtrip.reply", "unknown")]
    assert got["replied"] is False
