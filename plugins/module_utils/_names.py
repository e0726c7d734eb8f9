# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection's one rule per kind of name: a DNS label, a domain name, a mail address of the
site, a log level, and a calendar user address's mailto: prefix.

Every role, module and filter asks these (the roles through the Jinja tests imip.server.label,
imip.server.domain, imip.server.mail_address and imip.server.log_level, plugins/test/names.py);
nothing else writes such a rule again. A *_problem function returns None for a good value, else
the reason in a few words, so that every message names the same rule the same way; an is_*
function is its yes/no form. Names are compared in lower case (DNS names are case-insensitive,
RFC 4343; the site keeps its addresses in lower case).
"""

from __future__ import annotations

import re

# A label (RFC 1035 2.3.1, with RFC 1123 2.1's leading digit): letters, digits and '-', neither
# first nor last, 1 to 63 characters.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_LABEL_RE = re.compile(r"%s\Z" % _LABEL)
_LABEL_CHARACTERS = re.compile(r"[a-z0-9-]+\Z")
# The local part the site accepts: a subset of RFC 5322's dot-atom - letters, digits, '.', '_'
# and '-', no '.' first or last. No '+': it is the recipient delimiter of the invitation's token
# addresses (calendar-invites+TOKEN@...); no ':': the separator of Dovecot's passwd-file.
_LOCAL_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9_-])?\Z")

# The levels the roles pass to Radicale ([logging] level) and to the iMIP gateway
# ([gateway] log_level). The roles' argument specs list them as choices (YAML cannot import
# this tuple; tests/unit/plugins/module_utils/test_names.py keeps them equal).
LOG_LEVELS = ("info", "debug")


def is_label(text):
    """True for a DNS label: RFC 1035 2.3.1 (with RFC 1123 2.1) - letters, digits and '-', not
    first or last, 1-63 characters; a DKIM selector is one too (RFC 6376 3.1)."""
    return isinstance(text, str) and bool(_LABEL_RE.match(text.lower()))


def domain_problem(name):
    """None for a domain name the site can use, else why not.

    RFC 1035 2.3.1 labels (is_label), at most 253 characters in text form (RFC 1035 2.3.4's 255
    octets on the wire), at least two labels, no trailing dot, and a last label that is not all
    digits (RFC 3696 2: a top-level domain is never numeric, so 192.0.2.1 is no domain name).
    """
    if not isinstance(name, str) or not name:
        return "not a domain name: empty"
    if name.endswith("."):
        return "not a domain name: ends with a dot (write it without)"
    if len(name) > 253:
        return "not a domain name: longer than 253 characters"
    labels = name.lower().split(".")
    if len(labels) < 2:
        return "not a domain name: one label only (a domain has at least two, e.g. example.org)"
    for label in labels:
        if not label:
            return "not a domain name: empty label"
        if len(label) > 63:
            return "not a domain name: label %r is longer than 63 characters" % label
        if not _LABEL_CHARACTERS.match(label):
            return "not a domain name: label %r has a character other than a-z, 0-9 and '-'" % label
        if label.startswith("-") or label.endswith("-"):
            return "not a domain name: label %r starts or ends with '-'" % label
    if labels[-1].isdigit():
        return "not a domain name: the last label is a number"
    return None


def is_domain(name):
    """True for a domain name the site can use (the rule of domain_problem)."""
    return domain_problem(name) is None


def mail_address_problem(address, domains=None):
    """None for a mail address the site accepts, else why not.

    RFC 5321 4.1.2's Mailbox (Local-part "@" Domain), narrowed: the domain by domain_problem, the
    local part by the site's subset of RFC 5322 3.4.1's dot-atom (letters, digits, '.', '_' and
    '-'; no '+', the recipient delimiter; no ':', the passwd-file separator). Compared in lower
    case. domains: when given, the address's domain must also be one of them.
    """
    if not isinstance(address, str) or "@" not in address:
        return "not a mail address: no '@'"
    local, domain = address.lower().rsplit("@", 1)
    problem = domain_problem(domain)
    if problem:
        return "not a mail address: its domain is " + problem
    if not _LOCAL_RE.match(local):
        return ("not a mail address the site accepts: the local part %r may hold only a-z, 0-9, '.', '_' "
                "and '-' (no '+')" % local)
    if domains is not None and domain not in [str(d).lower() for d in domains]:
        return "not an address of the site's domains (%s): %s" % (", ".join(map(str, domains)), domain)
    return None


def is_mail_address(address, domains=None):
    """True for a mail address the site accepts (the rule of mail_address_problem)."""
    return mail_address_problem(address, domains) is None


def is_log_level(level):
    """True for one of LOG_LEVELS."""
    return isinstance(level, str) and level in LOG_LEVELS


def strip_mailto(address):
    """A calendar user address without its mailto: scheme (RFC 6068 2; RFC 5545 3.3.3 writes
    ORGANIZER and ATTENDEE so). The scheme is case-insensitive (RFC 3986 3.1): MAILTO:a@b -> a@b.
    Anything else comes back unchanged."""
    address = str(address or "")
    return address[len("mailto:"):] if address[:len("mailto:")].lower() == "mailto:" else address
