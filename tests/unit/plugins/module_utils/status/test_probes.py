# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The network probes against real sockets on 127.0.0.1: a TCP connect (open, refused), an SMTP
envelope that never sends DATA, and served certificates (STARTTLS and implicit TLS; trusted, for
another name, expired, from an unknown CA). Only a connect timeout is faked: nothing on this
machine drops a SYN on demand."""

from __future__ import annotations

import socket
import time

import pytest

from ansible_collections.imip.server.plugins.module_utils.status import probes

from ...status_common import (POSTGREY, RELAY_DENIED, MxHandler, Running, TlsHandler, certificates, closed_port,
                              server_context)


def test_an_open_port_accepts():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        seen = probes.tcp_connect("127.0.0.1", listener.getsockname()[1], 1.0, 2)
    assert seen["state"] == "open" and seen["tries"] == 1


def test_a_closed_port_is_refused_at_once_without_retries():
    seen = probes.tcp_connect("127.0.0.1", closed_port(), 1.0, 2)
    assert seen == {"state": "refused", "detail": "connection refused", "tries": 1}


def test_a_connect_that_times_out_is_tried_again_then_reported(monkeypatch):
    calls = []

    def silent(address, timeout=None):
        calls.append(address)
        raise socket.timeout("timed out")
    monkeypatch.setattr(probes.socket, "create_connection", silent)
    seen = probes.tcp_connect("198.51.100.10", 993, 0.5, 2)
    assert seen["state"] == "timeout" and len(calls) == 3
    assert seen["detail"] == "no answer within 0.5s (3 tries)"


def test_the_envelope_asks_every_recipient_and_never_sends_data():
    rcpt = {"relay@external.test": RELAY_DENIED, "alice@example.test": POSTGREY}
    with Running(MxHandler, rcpt=rcpt) as mx:
        seen = probes.smtp_envelope("127.0.0.1", mx.port, "ext.external.test", "status-check-1@external.test",
                                    ["relay@external.test", "calendar-invites+statuscheck@example.test", "alice@example.test"],
                                    2.0, 1)
        commands = [c.split(" ")[0].split(":")[0].upper() for c in mx.seen]
    assert seen["state"] == "open" and seen["banner"]["code"] == 220 and seen["mail"]["code"] == 250
    assert seen["rcpt"]["relay@external.test"]["code"] == 554
    assert seen["rcpt"]["calendar-invites+statuscheck@example.test"] == {"code": 250, "text": "2.1.5 Ok"}
    assert seen["rcpt"]["alice@example.test"]["code"] == 450 and "Greylisted" in seen["rcpt"]["alice@example.test"]["text"]
    assert commands == ["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "RSET", "QUIT"]
    assert "DATA" not in commands


def test_no_recipient_is_tried_when_the_sender_is_refused():
    with Running(MxHandler, rcpt={}, mail_reply="553 5.7.1 this is an address of this server") as mx:
        seen = probes.smtp_envelope("127.0.0.1", mx.port, "ext", "x@example.test", ["a@example.test"], 2.0, 0)
    assert seen["state"] == "open" and seen["mail"]["code"] == 553 and seen["rcpt"] == {}


def test_an_envelope_to_a_closed_port_is_refused():
    seen = probes.smtp_envelope("127.0.0.1", closed_port(), "ext", "x@external.test", ["a@example.test"], 1.0, 2)
    assert seen["state"] == "refused"


@pytest.fixture
def tls_files(tmp_path):
    return certificates(tmp_path, ["cal.example.test", "mail.example.test"], days=90)


def test_a_trusted_certificate_over_implicit_tls(tls_files):
    ca, cert, key = tls_files
    with Running(TlsHandler, tls_context=server_context(cert, key)) as server:
        seen = probes.served_certificate("127.0.0.1", server.port, "tls", "cal.example.test", 2.0, 1, cafile=ca)
    assert seen["state"] == "open" and seen["verified"] is True
    assert seen["names"] == ["cal.example.test", "mail.example.test"]
    assert 88 * 86400 < seen["not_after_epoch"] - time.time() < 91 * 86400


def test_a_trusted_certificate_after_smtp_starttls(tls_files):
    ca, cert, key = tls_files
    with Running(MxHandler, rcpt={}, tls_context=server_context(cert, key)) as mx:
        seen = probes.served_certificate("127.0.0.1", mx.port, "smtp", "cal.example.test", 2.0, 1, cafile=ca)
        assert mx.seen[:2] == ["EHLO status-check.invalid", "STARTTLS"]
    assert seen["verified"] is True and seen["names"] == ["cal.example.test", "mail.example.test"]


def test_a_certificate_for_another_name_is_reported_with_its_names(tls_files):
    ca, cert, key = tls_files
    with Running(TlsHandler, tls_context=server_context(cert, key)) as server:
        seen = probes.served_certificate("127.0.0.1", server.port, "tls", "other.example.test", 2.0, 1, cafile=ca)
    assert seen["state"] == "open" and seen["verified"] is False
    assert "mismatch" in seen["verify_error"] or "not valid for" in seen["verify_error"]
    assert seen["names"] == ["cal.example.test", "mail.example.test"]


def test_an_unknown_ca_is_not_trusted(tls_files):
    dummy, cert, key = tls_files
    with Running(TlsHandler, tls_context=server_context(cert, key)) as server:
        seen = probes.served_certificate("127.0.0.1", server.port, "tls", "cal.example.test", 2.0, 1)
    assert seen["verified"] is False and "unable to get local issuer certificate" in seen["verify_error"]


def test_an_expired_certificate_is_not_trusted(tmp_path):
    ca, cert, key = certificates(tmp_path, ["cal.example.test"], days=-1, start_days=-30)
    with Running(TlsHandler, tls_context=server_context(cert, key)) as server:
        seen = probes.served_certificate("127.0.0.1", server.port, "tls", "cal.example.test", 2.0, 1, cafile=ca)
    assert seen["verified"] is False and "expired" in seen["verify_error"]
    assert seen["not_after_epoch"] < time.time()


def test_smtp_without_starttls_is_an_error_not_a_certificate(tls_files):
    with Running(MxHandler, rcpt={}) as mx:
        seen = probes.served_certificate("127.0.0.1", mx.port, "smtp", "cal.example.test", 2.0, 1, cafile=tls_files[0])
    assert seen["state"] == "error" and "does not offer STARTTLS" in seen["detail"]


def test_no_certificate_from_a_closed_port():
    seen = probes.served_certificate("127.0.0.1", closed_port(), "tls", "cal.example.test", 1.0, 2)
    assert seen["state"] == "refused" and seen["verified"] is False
