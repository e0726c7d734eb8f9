# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The report: both views of a port merged into one line, hosts that did not answer and a
missing vantage host as "?" lines, the round trip's lines, the order, the counts and the text."""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils.status import checks as sc
from ansible_collections.imip.server.plugins.module_utils.status import report

GROUPS = {"all": ["gw", "ns1", "cal", "ext"], "gateways": ["gw"], "dns_servers": ["ns1"], "mail_servers": ["cal"],
          "calendar_servers": ["cal"], "vantage": ["ext"], "ungrouped": []}
ALL = ("0.0.0.0", "::")


def test_the_services_of_the_lab():
    services = report.services(GROUPS)
    assert [(s["port"], s["proto"], s["host"]) for s in services] == [
        (25, "tcp", "cal"), (587, "tcp", "cal"), (993, "tcp", "cal"), (443, "tcp", "cal"), (53, "tcp", "ns1"), (53, "udp", "ns1")]
    assert [s["port"] for s in report.services(GROUPS, serves_dns=False)] == [25, 587, 993, 443]
    assert [s["port"] for s in report.services({"mail_servers": ["aio"]})] == [25, 587, 993]


def site_result(checks=(), listening=ALL):
    ports = [(25, "tcp"), (587, "tcp"), (993, "tcp"), (443, "tcp")]
    return {"changed": False, "checks": list(checks),
            "listeners": [{"port": p, "proto": proto, "addresses": list(listening)} for p, proto in ports]}


def ns1_result(listening=("198.51.100.131", "127.0.0.1")):
    return {"changed": False, "checks": [],
            "listeners": [{"port": 53, "proto": "tcp", "addresses": list(listening)},
                          {"port": 53, "proto": "udp", "addresses": list(listening)}]}


def outside_result(states=None, checks=()):
    states = states or {}
    ports = [(25, "tcp"), (587, "tcp"), (993, "tcp"), (443, "tcp"), (53, "tcp"), (53, "udp")]
    return {"changed": False, "checks": list(checks), "resolver": "198.51.100.20",
            "ports": [{"port": p, "proto": proto, "state": states.get((p, proto), "open"),
                       "detail": {"open": "accepts connections", "refused": "connection refused",
                                  "timeout": "no answer within 3s (3 tries)"}[states.get((p, proto), "open")]}
                      for p, proto in ports]}


CAL_CHECKS = [sc.ok("tls.993", sc.TLS, "IMAPS: trusted"), sc.ok("account.smtp-login", sc.ACCOUNT, "accepts"),
              sc.ok("gateway.auth", sc.GATEWAY, "no error")]
OUT_CHECKS = [sc.ok("mail.relay", sc.MAIL, "no open relay"), sc.ok("dns.fcrdns", sc.DNS, "agree")]


def data(**kw):
    base = {"services": report.services(GROUPS), "public_address": "198.51.100.10",
            "site_results": {"cal": site_result(CAL_CHECKS), "ns1": ns1_result()},
            "site_expected": {"cal": ["tls.993", "account.smtp-login", "gateway.auth"], "ns1": []},
            "vantage": "ext", "outside_result": outside_result(checks=OUT_CHECKS),
            "outside_expected": ["dns.fcrdns", "mail.relay"], "roundtrip": {"requested": False}}
    base.update(kw)
    return base


def by_id(result):
    return dict((c["id"], c) for c in result["checks"])


def test_everything_right():
    result = report.build(data())
    assert result["ok"] is True and result["failed"] == [] and result["counts"] == {"ok": 11, "fail": 0, "unknown": 0}
    # by heading, in the documented order
    assert [c["id"] for c in result["checks"]] == [
        "dns.fcrdns", "port.25", "port.587", "port.993", "port.443", "port.53", "port.53.udp", "mail.relay",
        "tls.993", "account.smtp-login", "gateway.auth"]
    assert by_id(result)["port.993"]["message"] == "IMAPS (993/tcp): 198.51.100.10:993 from ext answers"
    assert by_id(result)["tls.993"]["host"] == "cal" and by_id(result)["mail.relay"]["host"] == "ext"
    assert result["lines"][0] == "DNS seen from outside (ext)"
    assert result["lines"][-1] == "11 checks: 11 \u2713, 0 \u2716, 0 ?"


def test_a_failure_prints_what_should_be_and_the_fix_indented():
    failed = sc.fail("account.dovecot-passwd-file", sc.ACCOUNT, "dovecot-passwd-file disagrees", "holds the password",
                     ["run site.yml", "then check again"])
    result = report.build(data(site_results={"cal": site_result(CAL_CHECKS + [failed]), "ns1": ns1_result()}))
    assert result["ok"] is False and result["failed"] == ["account.dovecot-passwd-file"]
    at = result["lines"].index("  \u2716 dovecot-passwd-file disagrees")
    assert result["lines"][at + 1:at + 4] == ["      should be: holds the password", "      fix: run site.yml",
                                              "           then check again"]


def test_a_port_blocked_on_the_way_names_the_router_and_firewall():
    c = by_id(report.build(data(outside_result=outside_result({(993, "tcp"): "timeout"}, OUT_CHECKS))))["port.993"]
    assert c["status"] == "fail"
    assert c["message"] == ("IMAPS (993/tcp): 198.51.100.10:993 from ext: no answer within 3s (3 tries), "
                            "although cal listens on 0.0.0.0, ::")
    assert "port forward or a firewall" in c["fix"][0]


def test_a_service_on_loopback_only_is_named_even_without_a_vantage_host():
    site = site_result(CAL_CHECKS, listening=["127.0.0.1"])
    c = by_id(report.build(data(site_results={"cal": site, "ns1": ns1_result()}, vantage="", outside_result=None)))["port.587"]
    assert c["status"] == "fail" and c["message"] == ("submission (587/tcp): cal listens on 127.0.0.1 only (loopback): "
                                                      "nobody else can reach it")
    assert "postfix" in c["fix"][0]


def test_a_service_that_is_not_running():
    site = site_result(CAL_CHECKS, listening=[])
    c = by_id(report.build(data(site_results={"cal": site, "ns1": ns1_result()},
                                outside_result=outside_result({(443, "tcp"): "refused"}, OUT_CHECKS))))["port.443"]
    assert c["status"] == "fail" and c["message"].startswith("CalDAV over HTTPS (443/tcp): nothing listens on cal port 443/tcp")
    assert c["fix"][0] == "radicale is not running on cal: systemctl status radicale; journalctl -u radicale"


def test_without_a_vantage_host_every_outside_check_says_how_to_add_one():
    result = report.build(data(vantage="", outside_result=None))
    checks = by_id(result)
    assert checks["dns.fcrdns"]["status"] == checks["mail.relay"]["status"] == "unknown"
    assert checks["dns.fcrdns"]["message"] == report.NO_VANTAGE
    assert checks["port.25"]["status"] == "unknown"
    assert checks["port.25"]["message"].startswith("SMTP (25/tcp): " + report.NO_VANTAGE)
    assert "cal listens on 0.0.0.0, ::" in checks["port.25"]["message"]
    assert result["ok"] is True and result["vantage"] is None


def test_outside_checks_from_the_controller_say_so():
    """No vantage group: check.yml runs the outside checks on the controller, and the report names it."""
    result = report.build(data(vantage="controller", vantage_is_controller=True))
    checks = by_id(result)
    assert checks["port.993"]["message"] == "IMAPS (993/tcp): 198.51.100.10:993 from this controller answers"
    assert checks["mail.relay"]["host"] == "this controller" and result["vantage"] == "this controller"
    assert "DNS seen from outside (this controller)" in result["lines"]


def test_a_roundtrip_through_a_mailbox_from_the_controller_names_the_controller():
    """With imip_check_roundtrip_mailbox and no vantage group, the attendee's steps ran on the
    controller (Ansible's `localhost`): the round trip's lines name it as the outside checks do."""
    rt = {"requested": True, "expected": ["roundtrip.invitation"],
          "results": [{"host": "localhost", "result": {"checks": [sc.ok("roundtrip.invitation", sc.ROUNDTRIP, "arrived")]}}]}
    result = report.build(data(vantage="localhost", vantage_is_controller=True, roundtrip=rt))
    assert by_id(result)["roundtrip.invitation"]["host"] == "this controller"
    assert "Invitation round trip (this controller)" in result["lines"]


def test_an_unreachable_site_host_makes_its_checks_unknown_and_the_rest_still_runs():
    unreachable = {"unreachable": True, "changed": False,
                   "msg": "Task failed: Failed to connect to the host via ssh: ansible@198.51.100.132: Permission denied (publickey)."}
    result = report.build(data(site_results={"cal": unreachable, "ns1": ns1_result()}))
    checks = by_id(result)
    assert [checks[i]["status"] for i in ("tls.993", "account.smtp-login", "gateway.auth")] == ["unknown"] * 3
    assert checks["tls.993"]["message"] == "cal could not be reached (ansible@198.51.100.132: Permission denied (publickey).)"
    assert checks["mail.relay"]["status"] == "ok"  # the vantage host's checks are unaffected
    assert checks["port.25"]["status"] == "ok"     # reachable from outside; the listening side unknown does not matter


def test_a_failed_vantage_run_makes_its_checks_unknown():
    result = report.build(data(outside_result={"failed": True, "msg": "dnspython is missing"}))
    checks = by_id(result)
    assert checks["dns.fcrdns"]["message"] == "ext could not run its checks (dnspython is missing)"
    assert checks["port.25"]["status"] == "unknown"
    assert checks["port.25"]["message"] == ("SMTP (25/tcp): ext could not run its checks (dnspython is missing); "
                                            "cal listens on 0.0.0.0, ::")


def test_the_roundtrip_lines_only_when_asked_for_and_missing_steps_are_unknown():
    assert not [c for c in report.build(data())["checks"] if c["heading"] == sc.ROUNDTRIP]
    rt = {"requested": True, "expected": ["roundtrip.invitation", "roundtrip.reply", "roundtrip.cleanup"],
          "results": [{"host": "ext", "result": {"changed": True, "checks": [sc.ok("roundtrip.invitation", sc.ROUNDTRIP, "arrived")]}},
                      {"host": "cal", "result": None}],
          "why": "the attendee's mailbox did not get the invitation", "seconds": {"put_to_mailbox": 4.2, "reply_to_partstat": None}}
    result = report.build(data(roundtrip=rt))
    lines = [c for c in result["checks"] if c["heading"] == sc.ROUNDTRIP]
    assert [(c["id"], c["status"], c["host"]) for c in lines] == [
        ("roundtrip.invitation", "ok", "ext"), ("roundtrip.reply", "unknown", None), ("roundtrip.cleanup", "unknown", None)]
    assert lines[1]["message"] == "the attendee's mailbox did not get the invitation"
    assert result["roundtrip"] is True
    assert result["roundtrip_seconds"] == {"put_to_mailbox": 4.2}


def test_a_roundtrip_id_reported_by_two_steps_keeps_the_worst():
    failed_put = sc.fail("roundtrip.invitation", sc.ROUNDTRIP, "the PUT failed", "saved", ["fix"])
    rt = {"requested": True, "expected": ["roundtrip.invitation"],
          "results": [{"host": "cal", "result": {"checks": [failed_put]}},
                      {"host": "ext", "result": {"checks": [sc.ok("roundtrip.invitation", sc.ROUNDTRIP, "arrived")]}}]}
    lines = [c for c in report.build(data(roundtrip=rt))["checks"] if c["heading"] == sc.ROUNDTRIP]
    assert [(c["status"], c["host"], c["message"]) for c in lines] == [("fail", "cal", "the PUT failed")]


def test_bad_input_names_what_is_missing():
    with pytest.raises(report.ReportInputError, match="has no 'site_results'"):
        report.build({"services": [], "public_address": "198.51.100.10"})
