# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The firewall role's filters: imip.server.firewall_plan, imip.server.firewall_group_forwards and
imip.server.firewall_group_ports.

The planner itself is tested in module_utils/firewall/test_plan.py; here: the filters hand their
input to it unchanged, refuse what is not a plan input, and work inside Ansible's templating with
the very expressions the role uses (roles/firewall/defaults and vars).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.imip.server.plugins.module_utils.firewall import plan as planner

ROLE = Path(__file__).resolve().parents[4] / "roles" / "firewall"
INPUT = {"admin_sources": ["198.51.100.1", "fd42:6::/64"], "service_ports": [{"port": 25}], "host": "cal"}


# imip_firewall_group_ports as roles/firewall/defaults/main.yml wrote it before the default came
# from the catalogue of public services (plugins/module_utils/_services.py): it must not change.
GROUP_PORTS_BEFORE = yaml.safe_load("""
mail_servers: [{port: 25}, {port: 587}, {port: 993}]
calendar_servers: [{port: 443}]
dns_servers: [{port: 53, proto: tcp}, {port: 53, proto: udp}]
""")


def test_filter_module_offers_the_three_filters(ctl):
    assert set(ctl.firewall.FilterModule().filters()) == {"firewall_plan", "firewall_group_forwards", "firewall_group_ports"}


def test_group_ports_are_the_roles_former_literal_default(ctl, templar):
    assert ctl.firewall.firewall_group_ports({}) == GROUP_PORTS_BEFORE
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    rendered = templar("{{ imip_firewall_group_ports }}",
                       {"imip_firewall_group_ports": ctl.trust_as_template(defaults["imip_firewall_group_ports"])})
    assert rendered == GROUP_PORTS_BEFORE


def test_group_ports_add_the_inputs_groups(ctl, templar):
    more = templar("{{ {'monitoring': [{'port': 9100}], 'calendar_servers': [{'port': 8443}]} "
                   "| imip.server.firewall_group_ports }}", {})
    assert more == dict(GROUP_PORTS_BEFORE, monitoring=[{"port": 9100}], calendar_servers=[{"port": 8443}])
    with pytest.raises(ctl.AnsibleFilterError, match="expects a dict"):
        ctl.firewall.firewall_group_ports([{"port": 25}])


def test_plan_is_the_planners(ctl):
    assert ctl.firewall.firewall_plan(INPUT) == planner.plan(**INPUT)


def test_bad_input_is_returned_as_errors_not_raised(ctl):
    plan = ctl.firewall.firewall_plan(dict(INPUT, admin_sources=[":::", "1::2::3"]))
    assert plan["errors"] == [
        "imip_firewall_admin_sources[0]: ':::' is neither an IPv4 nor an IPv6 address or network",
        "imip_firewall_admin_sources[1]: '1::2::3' is neither an IPv4 nor an IPv6 address or network",
    ]


@pytest.mark.parametrize("data, message", [
    (["198.51.100.1"], "expects a dict"),
    (dict(INPUT, admin_source=[]), "unknown keys admin_source"),
    ({"service_ports": []}, "missing keys admin_sources"),
])
def test_what_is_not_a_plan_input_is_refused(ctl, data, message):
    with pytest.raises(ctl.AnsibleFilterError, match=message):
        ctl.firewall.firewall_plan(data)


def test_group_forwards_needs_two_dicts(ctl):
    with pytest.raises(ctl.AnsibleFilterError, match="two dicts"):
        ctl.firewall.firewall_group_forwards([{"port": 25}], {})


def test_role_expressions_render_in_ansible(ctl, templar):
    """The role's default forwards and its plan input, rendered by Ansible as the role has them."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    hostvars = {"gw": {"imip_host_ipv4": "198.51.100.130"}, "ns1": {"imip_host_ipv4": "198.51.100.131"},
                "cal": {"imip_host_ipv4": "198.51.100.132"}, "ext": {}}
    variables = {key: ctl.trust_as_template(value) if isinstance(value, str) else value
                 for key, value in dict(defaults, **role_vars).items()}
    variables["__imip_firewall_plan_input"] = {
        key: ctl.trust_as_template(value) for key, value in role_vars["__imip_firewall_plan_input"].items()}
    variables.update(
        inventory_hostname="gw", group_names=["gateways"], hostvars=hostvars, ansible_facts={},
        groups={"all": ["gw", "ns1", "cal", "ext"], "gateways": ["gw"], "dns_servers": ["ns1"],
                "mail_servers": ["cal"], "calendar_servers": ["cal"], "vantage": ["ext"]},
        imip_public_ipv4="198.51.100.10", imip_host_ipv4="198.51.100.130",
        imip_firewall_admin_sources=["198.51.100.1", "fd42:6::/64"],
        imip_firewall_extra_port_forwards=[{"port": 8025, "to": "cal", "to_port": 25}],
    )
    forwards = templar("{{ imip_firewall_port_forwards }}", variables)
    assert forwards[:3] == [{"port": 25, "proto": "tcp", "to": "cal"}, {"port": 587, "proto": "tcp", "to": "cal"},
                            {"port": 993, "proto": "tcp", "to": "cal"}]
    assert forwards[-1] == {"port": 8025, "to": "cal", "to_port": 25}

    plan = templar("{{ __imip_firewall_plan_input | imip.server.firewall_plan }}", variables)
    assert plan["errors"] == [] and plan["interface_errors"] == []
    assert plan["admin_v4"] == ["198.51.100.1"] and plan["admin_v6"] == ["fd42:6::/64"]
    assert {"proto": "udp", "port": 53, "address": "198.51.100.131", "to_port": 53, "to": "ns1"} in plan["forwards"]
    assert {"proto": "tcp", "port": 8025, "address": "198.51.100.132", "to_port": 25, "to": "cal"} in plan["forwards"]
    assert plan["tcp_ports"] == [] and plan["udp_ports"] == [], "gw serves nothing itself"

    variables["imip_firewall_admin_sources"] = None
    plan = templar("{{ __imip_firewall_plan_input | imip.server.firewall_plan }}", variables)
    assert plan["errors"][0].startswith("imip_firewall_admin_sources is required")
