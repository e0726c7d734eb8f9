# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The public services of a site, by the inventory group whose hosts serve them (private to
imip.server).

The one catalogue of them: the firewall role opens and forwards these ports (its default
imip_firewall_group_ports comes from group_ports(), through the filter
imip.server.firewall_group_ports), and the status report tries them from outside and reads
their listeners on the site's hosts (status/report.py). What the roles install: Postfix,
Dovecot, Radicale, BIND (docs/status.md, docs/firewall.md).
"""

from __future__ import annotations

CATALOGUE = (
    ("mail_servers", dict(port=25, proto="tcp", service="SMTP", unit="postfix", tls="smtp")),
    ("mail_servers", dict(port=587, proto="tcp", service="submission", unit="postfix", tls="smtp")),
    ("mail_servers", dict(port=993, proto="tcp", service="IMAPS", unit="dovecot", tls="tls")),
    ("calendar_servers", dict(port=443, proto="tcp", service="CalDAV over HTTPS", unit="radicale", tls="tls")),
    ("dns_servers", dict(port=53, proto="tcp", service="DNS", unit="named", tls="none")),
    ("dns_servers", dict(port=53, proto="udp", service="DNS", unit="named", tls="none")),
)


def group_ports(catalogue=CATALOGUE):
    """{group: [{port} or {port, proto}]}: the ports each group serves, as the firewall role takes
    them (proto defaults to tcp there, so it is written only for another protocol, or where the
    group serves one port over two protocols)."""
    out = {}
    for group, entry in catalogue:
        out.setdefault(group, []).append(entry)
    return dict((group, [_port(entry, entries) for entry in entries]) for group, entries in out.items())


def _port(entry, entries):
    both = any(e["port"] == entry["port"] and e["proto"] != entry["proto"] for e in entries)
    return dict(port=entry["port"], proto=entry["proto"]) if both or entry["proto"] != "tcp" else dict(port=entry["port"])
