# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The check model and its two rules: one broken check never hides another (guarded), and
timeouts are retried before they count (retry)."""

from __future__ import annotations

import socket
import time

import pytest

from ansible_collections.imip.server.plugins.module_utils.status import checks as sc


def test_a_check_says_what_is_what_should_be_and_how_to_fix_it():
    c = sc.fail("tls.993", sc.TLS, "IMAPS serves an expired certificate", "a valid certificate", "run site.yml")
    assert c == {"id": "tls.993", "heading": "TLS certificates", "status": "fail",
                 "message": "IMAPS serves an expired certificate", "should": "a valid certificate", "fix": ["run site.yml"]}


@pytest.mark.parametrize("status,heading", [("maybe", sc.TLS), ("ok", "Somewhere else")])
def test_unknown_status_or_heading_is_refused(status, heading):
    with pytest.raises(ValueError):
        sc.check("x.y", heading, status, "m")


@pytest.mark.parametrize("check_id,heading", [
    ("dns.fcrdns", sc.DNS), ("dns.srv._caldavs._tcp", sc.DNS), ("port.53.udp", sc.PORTS), ("mail.relay", sc.MAIL),
    ("tls.25", sc.TLS), ("account.keychain-smtp", sc.ACCOUNT), ("gateway.auth", sc.GATEWAY),
    ("roundtrip.reply", sc.ROUNDTRIP)])
def test_every_id_prefix_names_its_heading(check_id, heading):
    assert sc.heading_of(check_id) == heading


def test_an_id_without_a_known_prefix_is_refused():
    with pytest.raises(ValueError, match="does not start with one of"):
        sc.heading_of("firewall.25")


def test_an_error_inside_one_check_becomes_an_unknown_line_for_that_check_only():
    def broken():
        return {}["missing"]
    results = [sc.guarded("gateway.queue", sc.GATEWAY, broken), sc.guarded("gateway.hook", sc.GATEWAY, lambda: sc.ok(
        "gateway.hook", sc.GATEWAY, "loaded"))]
    assert results[0]["status"] == "unknown" and results[0]["id"] == "gateway.queue"
    assert "internal error in the check: KeyError" in results[0]["message"]
    assert results[1]["status"] == "ok"


def test_a_timeout_is_tried_again_and_counts_only_after_the_retries():
    calls = []

    def probe():
        calls.append(1)
        raise socket.timeout("timed out")
    value, exc = sc.retry(probe, 2, sleep=lambda s: None)
    assert value is None and isinstance(exc, socket.timeout) and len(calls) == 3


def test_a_timeout_followed_by_an_answer_is_the_answer():
    answers = [socket.timeout(), "250 ok"]

    def probe():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
    assert sc.retry(probe, 2, sleep=lambda s: None) == ("250 ok", None)


def test_an_answer_that_is_no_timeout_is_never_retried():
    calls = []

    def probe():
        calls.append(1)
        raise ConnectionRefusedError(111, "Connection refused")
    with pytest.raises(ConnectionRefusedError):
        sc.retry(probe, 5, sleep=lambda s: None)
    assert len(calls) == 1


def test_jobs_run_at_once_and_keep_their_order():
    start = time.monotonic()
    results = sc.in_parallel([lambda i=i: (time.sleep(0.3), i)[1] for i in range(4)])
    assert results == [0, 1, 2, 3]
    assert time.monotonic() - start < 1.0  # four waits of 0.3 s overlap


def test_counts():
    checks = [sc.ok("a.x", sc.DNS, "m")] * 2 + [sc.unknown("a.y", sc.DNS, "m")]
    assert sc.counts(checks) == {"ok": 2, "fail": 0, "unknown": 1}
