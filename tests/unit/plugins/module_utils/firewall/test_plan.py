# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The firewall role's input checks and plan: addresses and networks parsed with ipaddress (the
IPv6 inputs the old regular expression let through, ':::' and '1::2::3', are refused naming the
variable), ports, forwards, the gateway's interfaces from Ansible's facts."""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils.firewall import plan as fw

HOSTS = {"gw": "198.51.100.130", "ns1": "198.51.100.131", "cal": "198.51.100.132", "ext": None}
FACTS = {
    "interfaces": ["lo", "eth0", "eth-in"],
    "lo": {"ipv4": {"address": "127.0.0.1", "network": "127.0.0.0", "prefix": "8"}},
    "eth0": {"ipv4": {"address": "198.51.100.10", "network": "198.51.100.0", "prefix": "25"}},
    "eth_in": {"ipv4": {"address": "198.51.100.130", "network": "198.51.100.128", "prefix": "25"},
               "ipv4_secondaries": [{"address": "10.9.0.1", "network": "10.9.0.0", "prefix": "24"}]},
}


def host_plan(**kw):
    args = dict(admin_sources=["198.51.100.1", "198.51.100.129", "fd42:6::/64"],
                service_ports=[{"port": 25}, {"port": "587"}, {"port": 53, "proto": "udp"}, {"port": 25, "proto": "tcp"}])
    args.update(kw)
    return fw.plan(**args)


def gateway_plan(**kw):
    args = dict(nat=True, hosts=HOSTS, public_ipv4="198.51.100.10", host_ipv4="198.51.100.130", facts=FACTS, host="gw",
                port_forwards=[{"port": 25, "proto": "tcp", "to": "cal"}, {"port": 53, "proto": "udp", "to": "ns1"},
                               {"port": 8443, "to": "cal", "to_port": 443}])
    args.update(kw)
    return host_plan(**args)


def test_a_host_plan_splits_sources_by_family_and_ports_by_protocol():
    p = host_plan()
    assert p["errors"] == [] and p["interface_errors"] == []
    assert p["admin_v4"] == ["198.51.100.1", "198.51.100.129"]
    assert p["admin_v6"] == ["fd42:6::/64"]
    assert p["tcp_ports"] == [25, 587] and p["udp_ports"] == [53]
    assert p["ssh_port"] == 22
    assert p["forwards"] == []


@pytest.mark.parametrize("source, v4, v6", [
    ("192.0.2.7", ["192.0.2.7"], []),
    ("192.0.2.7/32", ["192.0.2.7"], []),
    ("192.0.2.0/24", ["192.0.2.0/24"], []),
    ("0.0.0.0/0", ["0.0.0.0/0"], []),
    ("2001:db8::1", [], ["2001:db8::1"]),
    ("2001:DB8:0:0::1", [], ["2001:db8::1"]),
    ("2001:db8:1::/48", [], ["2001:db8:1::/48"]),
    ("::/0", [], ["::/0"]),
    ("::1", [], ["::1"]),
    ("::ffff:192.0.2.1", [], ["::ffff:192.0.2.1"]),
    ("::ffff:192.0.2.0/120", [], ["::ffff:192.0.2.0/120"]),
    (" 192.0.2.9 ", ["192.0.2.9"], []),
])
def test_valid_admin_sources(source, v4, v6):
    p = host_plan(admin_sources=[source])
    assert p["errors"] == []
    assert (p["admin_v4"], p["admin_v6"]) == (v4, v6)


@pytest.mark.parametrize("source, why", [
    (":::", "is neither an IPv4 nor an IPv6 address or network"),
    ("1::2::3", "is neither an IPv4 nor an IPv6 address or network"),
    ("2001:db8::/129", "is neither an IPv4 nor an IPv6 address or network"),
    ("2001:db8:::1", "is neither an IPv4 nor an IPv6 address or network"),
    ("12345::1", "is neither an IPv4 nor an IPv6 address or network"),
    ("fe80::1%eth0", "carries an IPv6 zone index (%...), which nftables does not take"),
    ("2001:db8::1/64", "has host bits set: write the network 2001:db8::/64, or the address alone"),
    ("192.0.2.300", "is neither an IPv4 nor an IPv6 address or network"),
    ("192.0.2", "is neither an IPv4 nor an IPv6 address or network"),
    ("010.0.0.1", "is neither an IPv4 nor an IPv6 address or network"),
    ("192.0.2.0/33", "is neither an IPv4 nor an IPv6 address or network"),
    ("192.0.2.1/24", "has host bits set: write the network 192.0.2.0/24, or the address alone"),
    ("example.test", "is neither an IPv4 nor an IPv6 address or network"),
    ("", "is neither an IPv4 nor an IPv6 address or network"),
])
def test_invalid_admin_sources_name_the_variable_and_the_item(source, why):
    p = host_plan(admin_sources=["192.0.2.1", source])
    assert p["errors"] == ["imip_firewall_admin_sources[1]: '%s' %s" % (source, why)]


def test_a_non_string_admin_source_is_refused():
    p = host_plan(admin_sources=[42])
    assert p["errors"] == ["imip_firewall_admin_sources[0]: '42' is neither an IPv4 nor an IPv6 address or network"]


@pytest.mark.parametrize("sources, message", [
    (None, "imip_firewall_admin_sources is required"),
    ([], "imip_firewall_admin_sources is empty: SSH would be closed to everyone"),
    ("192.0.2.1", "imip_firewall_admin_sources must be a list"),
])
def test_admin_sources_are_required_and_not_empty(sources, message):
    p = host_plan(admin_sources=sources)
    assert len(p["errors"]) == 1 and p["errors"][0].startswith(message), p["errors"]


@pytest.mark.parametrize("ports, message", [
    ([{"port": 0}], "imip_firewall_service_ports[0]: port 0 is out of range (1-65535)"),
    ([{"port": 25}, {"port": 65536}], "imip_firewall_service_ports[1]: port 65536 is out of range (1-65535)"),
    ([{"port": "25a"}], "imip_firewall_service_ports[0]: port 25a is out of range (1-65535)"),
    ([{"port": True}], "imip_firewall_service_ports[0]: port True is out of range (1-65535)"),
    ([{"port": 25, "proto": "sctp"}], "imip_firewall_service_ports[0]: proto 'sctp' of port 25 must be tcp or udp"),
    ([25], "imip_firewall_service_ports[0]: expected {port, proto}, got 25"),
])
def test_bad_service_ports(ports, message):
    assert host_plan(service_ports=ports)["errors"] == [message]


def test_bad_ssh_port_and_timeouts():
    assert host_plan(ssh_port=70000)["errors"] == ["imip_firewall_ssh_port: 70000 is not a port (1-65535)"]
    assert host_plan(confirm_timeout=20, rollback_timeout=25)["errors"] == [
        "imip_firewall_rollback_timeout (25) must be at least imip_firewall_confirm_timeout + 10 (30) or 0"]
    assert host_plan(confirm_timeout=20, rollback_timeout=0)["errors"] == []
    assert host_plan(confirm_timeout="20", rollback_timeout="30")["errors"] == []


def test_a_gateway_plan_resolves_forwards_and_finds_its_interfaces():
    p = gateway_plan()
    assert p["errors"] == [] and p["interface_errors"] == []
    assert p["forwards"] == [
        {"proto": "tcp", "port": 25, "address": "198.51.100.132", "to_port": 25, "to": "cal"},
        {"proto": "udp", "port": 53, "address": "198.51.100.131", "to_port": 53, "to": "ns1"},
        {"proto": "tcp", "port": 8443, "address": "198.51.100.132", "to_port": 443, "to": "cal"},
    ]
    assert p["public_ipv4"] == "198.51.100.10"
    assert (p["outside_interface"], p["inside_interface"]) == ("eth0", "eth-in")
    assert p["inside_networks"] == ["198.51.100.128/25", "10.9.0.0/24"]


def test_interfaces_and_networks_given_by_the_inventory_win():
    p = gateway_plan(outside_interface="wan0", inside_interface="lan0", inside_networks=["192.168.10.0/24"])
    assert (p["outside_interface"], p["inside_interface"], p["inside_networks"]) == ("wan0", "lan0", ["192.168.10.0/24"])


def test_before_facts_there_are_no_interface_errors():
    p = gateway_plan(facts=None)
    assert p["errors"] == [] and p["interface_errors"] == []


def test_facts_without_the_public_address_are_an_interface_error():
    facts = dict(FACTS, interfaces=["lo", "eth-in"])
    p = gateway_plan(facts=facts)
    assert p["errors"] == []
    assert p["interface_errors"] == ["imip_public_ipv4 198.51.100.10 is not an address of gw: set "
                                     "imip_firewall_outside_interface to the interface facing the internet"]
    p = gateway_plan(facts=facts, host_ipv4="198.51.100.199")
    assert any(e.startswith("no inside network found on gw (no interface holds imip_host_ipv4 198.51.100.199)")
               for e in p["interface_errors"])


@pytest.mark.parametrize("change, message", [
    (dict(port_forwards=[{"port": 2525, "to": "nosuchhost"}]),
     "imip_firewall_port_forwards[0]: tcp/2525 goes to 'nosuchhost', which is not a host of the inventory"),
    (dict(port_forwards=[{"port": 2525, "to": "ext"}]),
     "imip_firewall_port_forwards[0]: tcp/2525 goes to ext, whose imip_host_ipv4 '(undefined)' is not an IPv4 address (DNAT is IPv4)"),
    (dict(port_forwards=[{"port": 70000, "to": "cal"}]),
     "imip_firewall_port_forwards[0]: port 70000 is out of range (1-65535)"),
    (dict(port_forwards=[{"port": 80, "to": "cal", "to_port": 0}]),
     "imip_firewall_port_forwards[0]: to_port 0 is out of range (1-65535)"),
    (dict(port_forwards=[{"port": 25, "to": "cal"}, {"port": "25", "proto": "TCP", "to": "ns1"}]),
     "imip_firewall_port_forwards[1]: tcp/25 is forwarded twice (also by imip_firewall_port_forwards[0])"),
    (dict(port_forwards=[{"port": 25, "proto": "icmp", "to": "cal"}]),
     "imip_firewall_port_forwards[0]: proto 'icmp' of port 25 must be tcp or udp"),
    (dict(public_ipv4="2001:db8::10", port_forwards=[]),
     "imip_public_ipv4: '2001:db8::10' must be an IPv4 address (the gateway's public address, the target of the port forwards)"),
    (dict(public_ipv4="198.51.100.0/24", port_forwards=[]),
     "imip_public_ipv4: '198.51.100.0/24' must be an IPv4 address (the gateway's public address, the target of the port forwards)"),
    (dict(public_ipv4=None, port_forwards=[]),
     "imip_public_ipv4: '(undefined)' must be an IPv4 address (the gateway's public address, the target of the port forwards)"),
    (dict(inside_networks=["fd00:6::/64"]),
     "imip_firewall_inside_networks[0]: 'fd00:6::/64' is not an IPv4 network"),
    (dict(inside_networks=[":::"]),
     "imip_firewall_inside_networks[0]: ':::' is neither an IPv4 nor an IPv6 address or network"),
])
def test_bad_gateway_input(change, message):
    p = gateway_plan(**change)
    assert p["errors"] == [message]
    assert p["interface_errors"] == [], "interface checks wait until the input is right"


def test_a_host_that_is_not_a_gateway_ignores_the_nat_variables():
    p = host_plan(nat=False, public_ipv4="not an address", port_forwards=[{"port": 1, "to": "nowhere"}])
    assert p["errors"] == []


def test_group_forwards_go_to_the_first_host_of_each_group():
    group_ports = {"mail_servers": [{"port": 25}, {"port": 587}], "dns_servers": [{"port": 53, "proto": "udp"}],
                   "calendar_servers": [{"port": 443}]}
    groups = {"mail_servers": ["cal", "mx2"], "dns_servers": ["ns1"], "calendar_servers": []}
    assert fw.group_forwards(group_ports, groups) == [
        {"port": 25, "proto": "tcp", "to": "cal"},
        {"port": 587, "proto": "tcp", "to": "cal"},
        {"port": 53, "proto": "udp", "to": "ns1"},
    ]
