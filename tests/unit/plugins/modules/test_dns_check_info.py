# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module is thin: options in, dns/check.py's results out, never changed, never failed by a check."""
from __future__ import annotations

import socket

import pytest

from ansible_collections.imip.server.plugins.modules import dns_check_info


@pytest.fixture
def silent_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def test_unanswered_queries_are_reported_not_failed(run_module, silent_port):
    args = dict(server="127.0.0.1", port=silent_port, timeout=0.2, retries=0,
                records=[dict(name="example.test", type="MX", value="10 cal.example.test.")],
                fcrdns=[dict(name="cal.example.test", address="198.51.100.132")])
    run = run_module(dns_check_info, args, check=True)
    assert run.rc == 0 and not run.failed
    assert run.result["changed"] is False
    assert run.result["ok"] is False
    assert (run.result["failed_checks"], run.result["unknown_checks"]) == (0, 2)
    assert all(line.startswith("? could not determine") for line in run.result["report"])


def test_bad_record_type_is_an_option_error(run_module, silent_port):
    run = run_module(dns_check_info, dict(server="127.0.0.1", port=silent_port,
                                          records=[dict(name="x", type="SPF", value="v=spf1")]))
    assert run.failed and "value of type must be one of" in run.result["msg"]
