# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The attendee's steps (roundtrip/attendee.py) on a real Maildir in tmp_path: the answer through the MTA,
its failures, and the cleanup. The working round trip runs against the lab (check.yml -e imip_check_roundtrip=true)."""

from __future__ import annotations

import mailbox
import socket

import pytest

from ansible_collections.imip.server.plugins.module_utils.roundtrip import attendee, steps

from .common import TOKEN_ADDRESS, deliver, itip, no_wait


def test_answer_finds_the_request_and_sends_the_reply_through_the_mta(tmp_path):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("other-uid"))
    deliver(maildir, itip("u1"))
    sent = []
    got = attendee.answer(str(maildir), "u1", "attendee@external.test", 5, wait=no_wait,
                          sender=lambda msg, frm, to, host, port, timeout: sent.append((frm, to, host, port)))
    assert sent == [("attendee@external.test", TOKEN_ADDRESS, "127.0.0.1", 25)]
    assert got["replied"] is True
    assert [(c["id"], c["status"]) for c in got["checks"]] == [("roundtrip.invitation", "ok"), ("roundtrip.authentication", "ok")]
    assert got["checks"][1]["message"] == "ext.external.test verified the invitation: dkim=pass (example.test), spf=pass"
    assert TOKEN_ADDRESS not in repr(got)  # the token stays on the vantage host


def test_answer_without_a_request_is_a_failure_that_says_where_to_look(tmp_path):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("u1", method="CANCEL"))
    got = attendee.answer(str(maildir), "u1", "attendee@external.test", 120, wait=no_wait,
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

    got = attendee.answer(str(maildir), "u1", "attendee@external.test", 5, wait=no_wait, sender=refuse)
    assert [(c["id"], c["status"]) for c in got["checks"]] == [("roundtrip.invitation", "ok"), ("roundtrip.authentication", "ok"), ("roundtrip.reply", "fail")]
    assert "Connection refused" in got["checks"][2]["message"]


def test_an_mta_that_never_answers_is_retried_then_unknown(tmp_path):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("u1"))
    tries = []

    def silent(*args):
        tries.append(args)
        raise socket.timeout("timed out")

    got = attendee.answer(str(maildir), "u1", "attendee@external.test", 5, wait=no_wait, sender=silent, retries=2)
    assert len(tries) == 3
    assert [(c["id"], c["status"]) for c in got["checks"]] == [
        ("roundtrip.invitation", "ok"), ("roundtrip.authentication", "ok"), ("roundtrip.reply", "unknown")]
    assert got["replied"] is False


def test_cleanup_waits_for_the_cancel_and_removes_only_the_round_trip_messages(tmp_path):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("u1"))
    deliver(maildir, itip("u1", method="CANCEL"))
    keep = deliver(maildir, itip("someone-else"))
    check = attendee.cleanup(str(maildir), "u1", "attendee@external.test", {"deleted": True, "error": ""}, 60, wait=no_wait)
    assert (check["id"], check["status"]) == ("roundtrip.cleanup", "ok")
    assert "2 message(s) were removed" in check["message"]
    # The CANCEL's half minute is the gateway's wait for a move; the line says so, not "slow".
    assert "in case the event was moved" in check["message"]
    assert list(mailbox.Maildir(str(maildir)).keys()) == [keep]


def test_cleanup_without_the_cancel_fails_but_still_removes_the_messages(tmp_path):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("u1"))
    check = attendee.cleanup(str(maildir), "u1", "attendee@external.test", {"deleted": True, "error": ""}, 60, wait=no_wait)
    assert check["status"] == "fail"
    assert "CANCEL did not reach" in check["fix"][0]
    assert not list(mailbox.Maildir(str(maildir)).keys())


def test_cleanup_names_an_event_that_could_not_be_deleted(tmp_path):
    check = attendee.cleanup(str(tmp_path / "none"), "u1", "attendee@external.test",
                             {"deleted": False, "error": "DELETE ... answered 500"}, 60, wait=no_wait)
    assert check["status"] == "fail"
    assert check["fix"] == ["delete the event u1 from the organizer's calendar by hand (DELETE ... answered 500)"]


def test_cleanup_after_an_invitation_that_never_arrived_does_not_wait_for_a_cancel(tmp_path):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("old%s" % steps.UID_SUFFIX))  # left by an interrupted round trip
    check = attendee.cleanup(str(maildir), "u1", "attendee@external.test", {"deleted": True, "error": ""}, 60,
                             expect_cancel=False, wait=lambda *a: pytest.fail("must not wait"))
    assert check["status"] == "ok"
    assert check["message"].startswith("the test event was deleted (no CANCEL expected")
    assert not list(mailbox.Maildir(str(maildir)).keys())
