# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The gateway's part of the firewall plan: DNAT port forwards, interfaces, inside networks
(private to imip.server).

Pure Python (standard library only), used on the controller by firewall.plan when the host is a
gateway (nat). Like the rest of the plan, bad input becomes messages naming the variable; nothing
here raises for it.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.imip.server.plugins.module_utils._site_facts import parse_address_or_network
from ansible_collections.imip.server.plugins.module_utils.firewall.values import PROTOCOLS, port_number, text


def nat(out, errors, interface_errors, port_forwards, hosts, public_ipv4, host_ipv4, inside_networks,
        outside_interface, inside_interface, facts, host):
    """Fill out's public_ipv4, forwards, interfaces and inside networks; problems go to errors
    (known without facts) and interface_errors (known once facts are gathered)."""
    out["public_ipv4"] = _public_address(public_ipv4, errors)
    out["forwards"].extend(_forwards(port_forwards, hosts, errors))
    explicit_nets = _inside_networks(inside_networks, errors)
    _interfaces(out, interface_errors, explicit_nets, public_ipv4, host_ipv4, outside_interface, inside_interface,
                facts, host)


def _public_address(public_ipv4, errors):
    """The DNAT destination as text, or None (with its error)."""
    public = None
    try:
        public = parse_address_or_network(public_ipv4, 4)
        if public.prefixlen != 32:
            raise ValueError("is a network")
    except ValueError:
        errors.append("imip_public_ipv4: '%s' must be an IPv4 address (the gateway's public address, the target "
                      "of the port forwards)" % text(public_ipv4))
    return str(public.network_address) if public is not None else None


def _forwards(port_forwards, hosts, errors):
    """[{proto, port, address, to_port, to}] of imip_firewall_port_forwards, each port once."""
    out, seen = [], {}
    if not isinstance(port_forwards, (list, tuple)):
        errors.append("imip_firewall_port_forwards must be a list of {port, proto, to, to_port}, not %r" % (port_forwards,))
        return out
    for i, forward in enumerate(port_forwards):
        label = "imip_firewall_port_forwards[%d]" % i
        ports = _forward_ports(label, forward, errors)
        if ports is None:
            continue
        proto, port, to_port = ports
        key = "%s/%d" % (proto, port)
        if key in seen:
            errors.append("%s: %s is forwarded twice (also by imip_firewall_port_forwards[%d])" % (label, key, seen[key]))
            continue
        seen[key] = i
        target = forward.get("to")
        address = _forward_target(label, key, target, hosts, errors)
        if address is not None:
            out.append({"proto": proto, "port": port, "address": address, "to_port": to_port, "to": target})
    return out


def _forward_ports(label, forward, errors):
    """(proto, port, to_port) of one forward, or None (with its error)."""
    if not isinstance(forward, dict) or "port" not in forward:
        errors.append("%s: expected {port, proto, to, to_port}, got %r" % (label, forward))
        return None
    proto = str(forward.get("proto") or "tcp").lower()
    if proto not in PROTOCOLS:
        errors.append("%s: proto '%s' of port %s must be tcp or udp" % (label, forward.get("proto"), forward["port"]))
        return None
    try:
        port = port_number(forward["port"])
    except ValueError:
        errors.append("%s: port %s is out of range (1-65535)" % (label, text(forward["port"])))
        return None
    to_port = port
    if forward.get("to_port") not in (None, ""):
        try:
            to_port = port_number(forward["to_port"])
        except ValueError:
            errors.append("%s: to_port %s is out of range (1-65535)" % (label, text(forward["to_port"])))
            return None
    return proto, port, to_port


def _forward_target(label, key, target, hosts, errors):
    """The inside IPv4 address of the host a forward goes to, or None (with its error)."""
    if not target or target not in hosts:
        errors.append("%s: %s goes to '%s', which is not a host of the inventory" % (label, key, text(target)))
        return None
    try:
        address = parse_address_or_network(hosts[target], 4)
        if address.prefixlen != 32:
            raise ValueError
    except ValueError:
        errors.append("%s: %s goes to %s, whose imip_host_ipv4 '%s' is not an IPv4 address (DNAT is IPv4)"
                      % (label, key, target, text(hosts[target] or None)))
        return None
    return str(address.network_address)


def _inside_networks(inside_networks, errors):
    """imip_firewall_inside_networks as text, each checked."""
    explicit_nets = []
    if not isinstance(inside_networks, (list, tuple)):
        errors.append("imip_firewall_inside_networks must be a list of IPv4 networks, not %r" % (inside_networks,))
        return explicit_nets
    for i, network in enumerate(inside_networks):
        try:
            explicit_nets.append(str(parse_address_or_network(network, 4)))
        except ValueError as exc:
            errors.append("imip_firewall_inside_networks[%d]: '%s' %s" % (i, text(network), exc))
    return explicit_nets


def _interfaces(out, interface_errors, explicit_nets, public_ipv4, host_ipv4, outside_interface, inside_interface,
                facts, host):
    """The interfaces: named by the variables, or found by address in the facts (once gathered)."""
    if facts is None or "interfaces" not in (facts or {}):
        out["outside_interface"] = outside_interface or ""
        out["inside_interface"] = inside_interface or ""
        out["inside_networks"] = explicit_nets
        return
    addresses = interface_addresses(facts)
    out["outside_interface"] = outside_interface or _interface_with(addresses, out.get("public_ipv4"))
    out["inside_interface"] = inside_interface or _interface_with(addresses, str(host_ipv4 or ""))
    nets = explicit_nets or _networks_of(addresses, out["inside_interface"])
    out["inside_networks"] = nets
    if not out["outside_interface"]:
        interface_errors.append("imip_public_ipv4 %s is not an address of %s: set imip_firewall_outside_interface to "
                                "the interface facing the internet" % (text(public_ipv4), host or "this host"))
    if not nets:
        interface_errors.append("no inside network found on %s (no interface holds imip_host_ipv4 %s): set "
                                "imip_firewall_inside_interface or imip_firewall_inside_networks"
                                % (host or "this host", text(host_ipv4)))


def _interface_with(addresses, address):
    """The first interface holding the address, or ""."""
    return next((a["interface"] for a in addresses if a["address"] == address), "")


def _networks_of(addresses, interface):
    """The networks of an interface's addresses, each once."""
    nets = []
    for a in addresses:
        if a["interface"] == interface and a["network"] not in nets:
            nets.append(a["network"])
    return nets


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
