# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rules behind the facts several roles share (the imip.server.site_facts role).

Each rule lives here once: a host's DNS name, and what a mail address of the site may look
like. The roles call them through the filters in plugins/filter/site_facts.py.
"""

from __future__ import annotations

import re

# A mail address the roles accept: lower-case letters, digits, '.', '_' and '-' in the local part
# (no '+': it is the recipient delimiter of the token addresses; no ':': the passwd-file separator),
# and a domain of at least two labels.
_LOCAL = r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9_-])?"
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
MAIL_ADDRESS = re.compile(r"^%s@%s(?:\.%s)+$" % (_LOCAL, _LABEL, _LABEL))


def host_fqdn(host, variables):
    """A host's DNS name: its imip_host_fqdn, else <inventory name>.<its imip_domain>.

    variables: that host's variables (hostvars[host]). None when neither is known.
    """
    name = variables.get("imip_host_fqdn")
    if name:
        return str(name).rstrip(".")
    domain = variables.get("imip_domain")
    if not domain:
        return None
    return "%s.%s" % (host, str(domain).rstrip("."))


def invalid_mail_addresses(addresses):
    """The addresses (compared in lower case) that break the rule, in the order given."""
    return [address for address in addresses
            if not isinstance(address, str) or not MAIL_ADDRESS.match(address.lower())]
