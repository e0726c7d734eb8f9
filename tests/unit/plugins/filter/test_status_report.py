# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The status filters inside Ansible's templating, with the expressions playbooks/check.yml and
the dns role's status entry point use: the public services from `groups`, what DNS must hold from
the planner's plan, and the report from registered results. The logic is tested in
module_utils/status/test_*.py."""

from __future__ import annotations

import pytest

GROUPS = {"all": ["gw", "ns1", "cal", "ext"], "gateways": ["gw"], "dns_servers": ["ns1"], "mail_servers": ["cal"],
          "calendar_servers": ["cal"], "vantage": ["ext"], "ungrouped": []}
PLAN_INPUT = {
    "domain": "example.test",
    "hosts": [{"host": "ns1", "fqdn": "ns1.example.test", "ipv4": "198.51.100.131", "ipv6": ""},
              {"host": "cal", "fqdn": "cal.example.test", "ipv4": "198.51.100.132", "ipv6": ""}],
    "nameservers": ["ns1.example.test"], "mail_hosts": ["cal.example.test"], "calendar_hosts": ["cal.example.test"],
    "public_ipv4": "198.51.100.10", "views": True,
}


def test_the_services_a_host_checks_as_check_yml_asks(templar):
    expr = ("{{ groups | imip.server.status_services | selectattr('group', 'in', group_names)"
            " | map('dict2items') | map('rejectattr', 'key', 'in', ['group', 'host']) | map('items2dict') | list }}")
    assert templar(expr, {"groups": GROUPS, "group_names": ["dns_servers"]}) == [
        {"port": 53, "proto": "tcp", "service": "DNS", "unit": "named", "tls": "none"},
        {"port": 53, "proto": "udp", "service": "DNS", "unit": "named", "tls": "none"}]
    ports = templar("{{ groups | imip.server.status_services(false) | map(attribute='port') | list }}", {"groups": GROUPS})
    assert ports == [25, 587, 993, 443]


def test_the_dns_role_status_expression(templar):
    expr = ("{{ plan_input | imip.server.dns_zone_plan | imip.server.status_dns_records(imip_domain, plan_input.mail_hosts)"
            " | combine({'serves_dns': true}) }}")
    status = templar(expr, {"plan_input": PLAN_INPUT, "imip_domain": "example.test"})
    assert status["errors"] == [] and status["serves_dns"] is True
    assert status["fcrdns"] == [{"name": "cal.example.test.", "address": "198.51.100.10"}]
    assert {"name": "example.test.", "type": "MX", "value": "10 cal.example.test."} in status["records"]
    assert status["expected_ids"][0] == "dns.fcrdns"


def test_the_report_from_registered_results(templar):
    site = {"changed": False, "listeners": [{"port": p, "proto": "tcp", "addresses": ["0.0.0.0"]} for p in (25, 587, 993)],
            "checks": [{"id": "gateway.auth", "heading": "iMIP gateway", "status": "ok", "message": "fine", "should": "", "fix": []}]}
    expr = ("{{ {'services': groups | imip.server.status_services, 'public_address': '198.51.100.10',"
            " 'site_results': {'cal': site, 'ns1': none}, 'site_expected': {'ns1': []},"
            " 'vantage': '', 'outside_result': none, 'outside_expected': ['mail.relay']} | imip.server.status_report }}")
    result = templar(expr, {"groups": {"mail_servers": ["cal"]}, "site": site})
    assert result["ok"] is True and result["counts"] == {"ok": 1, "fail": 0, "unknown": 4}
    assert [c["id"] for c in result["checks"]] == ["port.25", "port.587", "port.993", "mail.relay", "gateway.auth"]


def test_the_filters_refuse_what_they_cannot_read(templar, ctl):
    with pytest.raises(ctl.AnsibleFilterError, match="expects a dict"):
        templar("{{ 'text' | imip.server.status_report }}", {})
    with pytest.raises(ctl.AnsibleFilterError, match="has no 'site_results'"):
        templar("{{ {'services': [], 'public_address': 'x'} | imip.server.status_report }}", {})
    with pytest.raises(ctl.AnsibleFilterError, match="the inventory's groups"):
        templar("{{ ['cal'] | imip.server.status_services }}", {})
    with pytest.raises(ctl.AnsibleFilterError, match="expects the result of imip.server.dns_zone_plan"):
        templar("{{ {} | imip.server.status_dns_records('example.test', []) }}", {})
