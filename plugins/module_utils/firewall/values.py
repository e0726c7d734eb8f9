# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ports, addresses and messages shared by the firewall planner's steps (private to imip.server).

Pure Python (standard library only), used on the controller by firewall.plan and firewall.nat.
"""

from __future__ import annotations

PROTOCOLS = ("tcp", "udp")


def text(value):
    return "(undefined)" if value is None else str(value)


def address_text(address):
    """An address as text; IPv4-mapped IPv6 always as '::ffff:192.0.2.1' (Python 3.13 writes it so,
    3.11 writes '::ffff:c000:201': the rules must not depend on the controller's Python)."""
    mapped = getattr(address, "ipv4_mapped", None)
    return "::ffff:%s" % mapped if mapped is not None else str(address)


def compact(net):
    """'192.0.2.1/32' -> '192.0.2.1'; networks keep their prefix."""
    if net.prefixlen == net.max_prefixlen:
        return address_text(net.network_address)
    return "%s/%d" % (address_text(net.network_address), net.prefixlen)


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


def port_list(variable, entries, errors):
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
            errors.append("%s: port %s is out of range (1-65535)" % (label, text(entry["port"])))
    return out
