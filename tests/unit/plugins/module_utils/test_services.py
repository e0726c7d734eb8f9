# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one catalogue of public services: the firewall's ports per group and the status report's
services are both read from it."""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils import _services
from ansible_collections.imip.server.plugins.module_utils.status import report


def test_group_ports_write_proto_only_where_it_is_not_the_default_or_is_ambiguous():
    assert _services.group_ports() == {
        "mail_servers": [{"port": 25}, {"port": 587}, {"port": 993}],
        "calendar_servers": [{"port": 443}],
        "dns_servers": [{"port": 53, "proto": "tcp"}, {"port": 53, "proto": "udp"}],
    }
    table = (("g", dict(port=5353, proto="udp")), ("g", dict(port=80, proto="tcp")))
    assert _services.group_ports(table) == {"g": [{"port": 5353, "proto": "udp"}, {"port": 80}]}


def test_the_firewall_and_the_report_see_the_same_ports():
    groups = {"mail_servers": ["cal"], "calendar_servers": ["cal"], "dns_servers": ["ns1"]}
    served = sorted((s["group"], s["port"], s["proto"]) for s in report.services(groups))
    opened = sorted((group, p["port"], p.get("proto", "tcp")) for group, ports in _services.group_ports().items() for p in ports)
    assert served == opened
