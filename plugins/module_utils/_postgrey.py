# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""postgrey's whitelists (private to imip.server): what postgrey 1.37 parses in them, and the
recipient whitelist the mail role writes.

The grammar is postgrey's, not the site's (its read_clients_whitelists / read_recipients_whitelists):
a host name there may hold '_', an IPv4 network may be written by its first two or three octets.
The mail role checks imip_mail_greylisting_whitelist_clients / _recipients with the Jinja tests
imip.server.postgrey_client / postgrey_recipient and builds whitelist_recipients.local with the
filter imip.server.postgrey_whitelist.
"""

from __future__ import annotations

import re

# /regex/ (postgrey compiles what is between the slashes).
_REGEX = r"/\S+/"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# An IPv4 address with an optional mask (0-32), or the first two or three octets of a network.
_IPV4 = r"%s(?:\.%s){3}(?:/(?:3[0-2]|[12]?[0-9]))?" % (_OCTET, _OCTET)
_IPV4_PARTIAL = r"%s(?:\.%s){1,2}" % (_OCTET, _OCTET)
# An IPv6 address (at least two ':') with an optional mask (0-128).
_IPV6 = r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?"
# A host name (it also matches its subdomains): labels that may hold '_', an optional final dot,
# and a letter, '-' or '_' somewhere (so that 192.0.2.300 is no "host name").
_HOST_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
_HOSTNAME = r"(?=.*[A-Za-z_-])%s(?:\.%s)*\.?" % (_HOST_LABEL, _HOST_LABEL)
CLIENT_ENTRY = re.compile(r"(?:%s|%s|%s|%s|%s)\Z" % (_REGEX, _IPV4, _IPV4_PARTIAL, _IPV6, _HOSTNAME))
# A recipient: user@domain (also matches user+anything@domain), user@, or a domain.
_DOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
RECIPIENT_ENTRY = re.compile(r"(?:%s|[^\s@#/]+@(?:%s)?|%s)\Z" % (_REGEX, _DOMAIN, _DOMAIN))


def is_client_entry(entry):
    """True for a line postgrey parses in whitelist_clients: a host or domain name, an IPv4
    address or network (192.0.2.1, 192.0.2.0/24, 192.0.2), an IPv6 address or network, /regex/."""
    return isinstance(entry, str) and bool(CLIENT_ENTRY.match(entry))


def is_recipient_entry(entry):
    """True for a line postgrey parses in whitelist_recipients: user@domain, user@, domain, /regex/."""
    return isinstance(entry, str) and bool(RECIPIENT_ENTRY.match(entry))


def whitelist_recipients(invitation_address, recipients):
    """The lines of whitelist_recipients.local: the invitation address in lower case first (as
    user@domain it also lets through its token addresses user+TOKEN@domain), then `recipients`;
    each once, compared in lower case, the first spelling kept."""
    entries, seen = [], set()
    for entry in [str(invitation_address).lower()] + list(recipients):
        if entry.lower() not in seen:
            seen.add(entry.lower())
            entries.append(entry)
    return entries
