# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The firewall role's input, checked and turned into what its ruleset template needs (private).

Pure Python (standard library only), used on the controller by the filter
imip.server.firewall_plan. Addresses and networks are parsed with `ipaddress`, never matched
with regular expressions: `:::` or `1::2::3` are refused here, naming the variable, instead of
by `nft -c` later without one. Bad input is returned as messages, one per problem, each naming
the inventory variable and the offending item; nothing here raises for bad input.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.imip.server.plugins.module_utils._site_facts import parse_address_or_network

PROTOCOLS = ("tcp", "udp")


def _text(value):
    return "(undefined)" if value is None else str(value)


def _address_text(address):
    """An address as text; IPv4-mapped IPv6 always as '::ffff:192.0.2.1' (Python 3.13 writes it so,
    3.11 writes '::ffff:c000:201': the rules must not depend on the controller's Python)."""
    mapped = getattr(address, "ipv4_mapped", None)
    return "::ffff:%s" % mapped if mapped is not None else str(address)


def _compact(net):
    """'192.0.2.1/32' -> '192.0.2.1'; networks keep their prefix."""
    if net.prefixlen == net.max_prefixlen:
        return _address_text(net.network_address)
    return "%s/%d" % (_address_text(net.network_address), net.prefixlen)


def port_number(value):
    """The port as an int, or ValueError (1-65535; digits only, no booleans)."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ValueError
    if not 1 <= number <= 65535:
        raise ValueError
    return number


def _ports(variable, entries, errors):
    """[(proto, port)] of a list of {port, proto} dicts; problems go to errors."""
    out = []
    if entries is None:
        return out
    if not isinstance(entries, (list, tuple)):
        errors.append("%s must be a list of {port, proto}, not %r" % (variable, entries))
        return out
    for i, entry in enumerate(entries):
        label = "%s[%d]" % (variable, i)
        if not isinstance(entry, dict) or "port" not in entry:
            errors.append("%s: expected {port, proto}, got %r" % (label, entry))
            continue
        proto = str(entry.get("proto") or "tcp").lower()
        if proto not in PROTOCOLS:
            errors.append("%s: proto '%s' of port %s must be tcp or udp" % (label, entry.get("proto"), entry["port"]))
            continue
        try:
            out.append((proto, port_number(entry["port"])))
        except ValueError:
            errors.append("%s: port %s is out of range (1-65535)" % (label, _text(entry["port"])))
    return out


def group_forwards(group_ports, groups):
    """The default port forwards: every port of a group's list to the first host of that group.

    group_ports: {group: [{port, proto}]}; groups: the inventory's {group: [hosts]}.
    """
    out = []
    for group, ports in (group_ports or {}).items():
        members = (groups or {}).get(group) or []
        if not members:
            continue
        for entry in ports or ():
            forward = {"port": entry.get("port") if isinstance(entry, dict) else entry,
                       "proto": (entry.get("proto") if isinstance(entry, dict) else None) or "tcp",
                       "to": members[0]}
            out.append(forward)
    return out


def interface_addresses(facts):
    """[{interface, address, network}] of the IPv4 addresses in Ansible's network facts."""
    out = []
    facts = facts or {}
    for name in facts.get("interfaces") or ():
        data = facts.get(str(name).replace("-", "_")) or {}
        entries = ([data["ipv4"]] if isinstance(data.get("ipv4"), dict) else []) + list(data.get("ipv4_secondaries") or ())
        for entry in entries:
            if not entry.get("address"):
                continue
            network = "%s/%s" % (entry.get("network"), entry.get("prefix"))
            try:
                network = str(ipaddress.ip_network(network, strict=False))
            except ValueError:
                continue
            out.append({"interface": name, "address": entry["address"], "network": network})
    return out


def plan(admin_sources, ssh_port=22, service_ports=(), nat=False, port_forwards=(), hosts=None,
         public_ipv4=None, host_ipv4=None, inside_networks=(), outside_interface="", inside_interface="",
         facts=None, confirm_timeout=20, rollback_timeout=45, host=""):
    """Everything the ruleset template needs, or the input's errors.

    admin_sources: addresses or networks allowed to reach SSH (required, not empty).
    service_ports: [{port, proto}] this host opens. nat: the host is a gateway; then
    port_forwards ([{port, proto, to, to_port}]) go to hosts[to] (the inventory's imip_host_ipv4
    of each host), public_ipv4 is the DNAT destination, and the interfaces and inside networks
    come from the variables or else from facts (Ansible's network facts; None when not gathered).

    Returns {"errors": [...], "interface_errors": [...], "admin_v4", "admin_v6", "tcp_ports",
    "udp_ports", "forwards": [{proto, port, address, to_port}], "outside_interface",
    "inside_interface", "inside_networks"}. errors are known without facts; interface_errors
    only once facts are there (empty before).
    """
    errors = []
    out = {"admin_v4": [], "admin_v6": [], "tcp_ports": [], "udp_ports": [], "forwards": [],
           "outside_interface": "", "inside_interface": "", "inside_networks": []}

    # SSH: whom to let in is the inventory's decision; there is no "anywhere" by default.
    if admin_sources is None:
        errors.append("imip_firewall_admin_sources is required: list the IPv4/IPv6 addresses or networks "
                      "allowed to reach SSH, at least the one Ansible connects from "
                      "(example: ['192.0.2.0/24', '2001:db8:1::/48'])")
    elif isinstance(admin_sources, str) or not isinstance(admin_sources, (list, tuple)):
        errors.append("imip_firewall_admin_sources must be a list of addresses or networks, not %r" % (admin_sources,))
    elif not admin_sources:
        errors.append("imip_firewall_admin_sources is empty: SSH would be closed to everyone, Ansible "
                      "included; list at least the address Ansible connects from")
    else:
        for i, source in enumerate(admin_sources):
            try:
                net = parse_address_or_network(source)
            except ValueError as exc:
                errors.append("imip_firewall_admin_sources[%d]: '%s' %s" % (i, _text(source), exc))
                continue
            bucket = out["admin_v4"] if net.version == 4 else out["admin_v6"]
            if _compact(net) not in bucket:
                bucket.append(_compact(net))
    try:
        out["ssh_port"] = port_number(ssh_port)
    except ValueError:
        errors.append("imip_firewall_ssh_port: %s is not a port (1-65535)" % _text(ssh_port))

    for proto, port in _ports("imip_firewall_service_ports", service_ports, errors):
        bucket = out["tcp_ports"] if proto == "tcp" else out["udp_ports"]
        if port not in bucket:
            bucket.append(port)
    out["tcp_ports"].sort()
    out["udp_ports"].sort()

    try:
        confirm, rollback = int(confirm_timeout), int(rollback_timeout)
    except (TypeError, ValueError):
        errors.append("imip_firewall_confirm_timeout (%s) and imip_firewall_rollback_timeout (%s) must be "
                      "numbers of seconds" % (_text(confirm_timeout), _text(rollback_timeout)))
    else:
        if confirm < 1:
            errors.append("imip_firewall_confirm_timeout (%d) must be at least 1 second" % confirm)
        if rollback < 0 or 0 < rollback < confirm + 10:
            errors.append("imip_firewall_rollback_timeout (%d) must be at least imip_firewall_confirm_timeout + 10 (%d) or 0"
                          % (rollback, confirm + 10))

    interface_errors = []
    if nat:
        _nat(out, errors, interface_errors, port_forwards, hosts or {}, public_ipv4, host_ipv4,
             inside_networks, outside_interface, inside_interface, facts, host)
    out["errors"] = errors
    out["interface_errors"] = interface_errors if not errors else []
    return out


def _nat(out, errors, interface_errors, port_forwards, hosts, public_ipv4, host_ipv4, inside_networks,
         outside_interface, inside_interface, facts, host):
    public = None
    try:
        public = parse_address_or_network(public_ipv4, 4)
        if public.prefixlen != 32:
            raise ValueError("is a network")
    except ValueError:
        errors.append("imip_public_ipv4: '%s' must be an IPv4 address (the gateway's public address, the target "
                      "of the port forwards)" % _text(public_ipv4))
    out["public_ipv4"] = str(public.network_address) if public is not None else None

    seen = {}
    if not isinstance(port_forwards, (list, tuple)):
        errors.append("imip_firewall_port_forwards must be a list of {port, proto, to, to_port}, not %r" % (port_forwards,))
        port_forwards = ()
    for i, forward in enumerate(port_forwards):
        label = "imip_firewall_port_forwards[%d]" % i
        if not isinstance(forward, dict) or "port" not in forward:
            errors.append("%s: expected {port, proto, to, to_port}, got %r" % (label, forward))
            continue
        proto = str(forward.get("proto") or "tcp").lower()
        if proto not in PROTOCOLS:
            errors.append("%s: proto '%s' of port %s must be tcp or udp" % (label, forward.get("proto"), forward["port"]))
            continue
        try:
            port = port_number(forward["port"])
        except ValueError:
            errors.append("%s: port %s is out of range (1-65535)" % (label, _text(forward["port"])))
            continue
        to_port = port
        if forward.get("to_port") not in (None, ""):
            try:
                to_port = port_number(forward["to_port"])
            except ValueError:
                errors.append("%s: to_port %s is out of range (1-65535)" % (label, _text(forward["to_port"])))
                continue
        key = "%s/%d" % (proto, port)
        if key in seen:
            errors.append("%s: %s is forwarded twice (also by imip_firewall_port_forwards[%d])" % (label, key, seen[key]))
            continue
        seen[key] = i
        target = forward.get("to")
        if not target or target not in hosts:
            errors.append("%s: %s goes to '%s', which is not a host of the inventory" % (label, key, _text(target)))
            continue
        try:
            address = parse_address_or_network(hosts[target], 4)
            if address.prefixlen != 32:
                raise ValueError
        except ValueError:
            errors.append("%s: %s goes to %s, whose imip_host_ipv4 '%s' is not an IPv4 address (DNAT is IPv4)"
                          % (label, key, target, _text(hosts[target] or None)))
            continue
        out["forwards"].append({"proto": proto, "port": port, "address": str(address.network_address),
                                "to_port": to_port, "to": target})

    explicit_nets = []
    if not isinstance(inside_networks, (list, tuple)):
        errors.append("imip_firewall_inside_networks must be a list of IPv4 networks, not %r" % (inside_networks,))
        inside_networks = ()
    for i, network in enumerate(inside_networks):
        try:
            explicit_nets.append(str(parse_address_or_network(network, 4)))
        except ValueError as exc:
            errors.append("imip_firewall_inside_networks[%d]: '%s' %s" % (i, _text(network), exc))

    # The interfaces: named by the variables, or found by address in the facts (once gathered).
    if facts is None or "interfaces" not in (facts or {}):
        out["outside_interface"] = outside_interface or ""
        out["inside_interface"] = inside_interface or ""
        out["inside_networks"] = explicit_nets
        return
    addresses = interface_addresses(facts)
    out["outside_interface"] = outside_interface or next(
        (a["interface"] for a in addresses if a["address"] == out.get("public_ipv4")), "")
    out["inside_interface"] = inside_interface or next(
        (a["interface"] for a in addresses if a["address"] == str(host_ipv4 or "")), "")
    nets = explicit_nets or []
    if not nets:
        for a in addresses:
            if a["interface"] == out["inside_interface"] and a["network"] not in nets:
                nets.append(a["network"])
    out["inside_networks"] = nets
    if not out["outside_interface"]:
        interface_errors.append("imip_public_ipv4 %s is not an address of %s: set imip_firewall_outside_interface to "
                                "the interface facing the internet" % (_text(public_ipv4), host or "this host"))
    if not nets:
        interface_errors.append("no inside network found on %s (no interface holds imip_host_ipv4 %s): set "
                                "imip_firewall_inside_interface or imip_firewall_inside_networks"
                                % (host or "this host", _text(host_ipv4)))
