# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The firewall role's input, checked and turned into what its ruleset template needs (private).

Pure Python (standard library only), used on the controller by the filters
imip.server.firewall_plan and imip.server.firewall_group_forwards. Addresses and networks are
parsed with `ipaddress`, never matched with regular expressions: `:::` or `1::2::3` are refused
here, naming the variable, instead of by `nft -c` later without one. Bad input is returned as
messages, one per problem, each naming the inventory variable and the offending item; nothing
here raises for bad input. A gateway's part (nat) is in firewall.nat.
"""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils._site_facts import parse_address_or_network
from ansible_collections.imip.server.plugins.module_utils.firewall.nat import nat as _nat
from ansible_collections.imip.server.plugins.module_utils.firewall.values import compact, port_list, port_number, text


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
    _admin_sources(admin_sources, out, errors)
    try:
        out["ssh_port"] = port_number(ssh_port)
    except ValueError:
        errors.append("imip_firewall_ssh_port: %s is not a port (1-65535)" % text(ssh_port))
    _service_ports(service_ports, out, errors)
    _timeouts(confirm_timeout, rollback_timeout, errors)
    interface_errors = []
    if nat:
        _nat(out, errors, interface_errors, port_forwards, hosts or {}, public_ipv4, host_ipv4,
             inside_networks, outside_interface, inside_interface, facts, host)
    out["errors"] = errors
    out["interface_errors"] = interface_errors if not errors else []
    return out


def _admin_sources(admin_sources, out, errors):
    """SSH: whom to let in is the inventory's decision; there is no "anywhere" by default."""
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
                errors.append("imip_firewall_admin_sources[%d]: '%s' %s" % (i, text(source), exc))
                continue
            bucket = out["admin_v4"] if net.version == 4 else out["admin_v6"]
            if compact(net) not in bucket:
                bucket.append(compact(net))


def _service_ports(service_ports, out, errors):
    """The ports this host opens, per protocol, each once, sorted."""
    for proto, port in port_list("imip_firewall_service_ports", service_ports, errors):
        bucket = out["tcp_ports"] if proto == "tcp" else out["udp_ports"]
        if port not in bucket:
            bucket.append(port)
    out["tcp_ports"].sort()
    out["udp_ports"].sort()


def _timeouts(confirm_timeout, rollback_timeout, errors):
    """The safe apply's timeouts: the rollback comes at least 10 s after the confirmation, or never."""
    try:
        confirm, rollback = int(confirm_timeout), int(rollback_timeout)
    except (TypeError, ValueError):
        errors.append("imip_firewall_confirm_timeout (%s) and imip_firewall_rollback_timeout (%s) must be "
                      "numbers of seconds" % (text(confirm_timeout), text(rollback_timeout)))
    else:
        if confirm < 1:
            errors.append("imip_firewall_confirm_timeout (%d) must be at least 1 second" % confirm)
        if rollback < 0 or 0 < rollback < confirm + 10:
            errors.append("imip_firewall_rollback_timeout (%d) must be at least imip_firewall_confirm_timeout + 10 (%d) or 0"
                          % (rollback, confirm + 10))
