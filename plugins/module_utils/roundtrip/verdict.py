# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The attendee's provider's verdict on the invitation (private to imip.server; the round trip's
answer step).

provider_verdict() reads the topmost Authentication-Results (RFC 8601) the provider wrote on
arrival; authentication_check() turns it into the report's line: a DKIM signature of the site's
domain that verifies and, when the provider judges DMARC, dmarc=pass.
"""

from __future__ import annotations

import re

from ansible_collections.imip.server.plugins.module_utils.roundtrip.steps import AUTHENTICATION, line
from ansible_collections.imip.server.plugins.module_utils.status import checks as sc


_AR_RESULT = re.compile(r"^\s*(dkim|spf|dmarc)\s*=\s*([a-z]+)(.*)$", re.IGNORECASE | re.S)
_AR_DOMAIN = re.compile(r"\b(?:header\.d|smtp\.mailfrom|header\.from)\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE)


def provider_verdict(message):
    """(authserv-id, [(method, result, domain)]) of the topmost Authentication-Results header's
    writer - the attendee's provider, which adds it on top when the mail arrives - or (None, [])."""
    headers = [re.sub(r"\([^()]*\)", "", str(v)).replace("\r", " ").replace("\n", " ")
               for v in message.get_all("Authentication-Results") or []]
    if not headers:
        return None, []
    writer = headers[0].split(";", 1)[0].strip().lower()
    results = []
    for header in headers:
        if header.split(";", 1)[0].strip().lower() != writer:
            continue
        for resinfo in header.split(";")[1:]:
            match = _AR_RESULT.match(resinfo)
            if match:
                domain = _AR_DOMAIN.search(match.group(3))
                results.append((match.group(1).lower(), match.group(2).lower(),
                                domain.group(1).rsplit("@", 1)[-1].lower().rstrip(".") if domain else ""))
    return writer, results


def authentication_check(message, domain):
    """What the attendee's provider found when the invitation arrived: a DKIM signature of the
    site's domain that verifies (big providers put unsigned mail from small senders in spam) and,
    when the provider judges DMARC, dmarc=pass (a fail is what gets mail quarantined or refused)."""
    writer, results = provider_verdict(message)
    found = ", ".join("%s=%s%s" % (m, r, " (%s)" % d if d else "") for m, r, d in results)
    should = ("the attendee's provider verifies the invitation's DKIM signature for %s (dkim=pass) and "
              "its DMARC passes (dmarc=pass)" % domain)
    if writer is None:
        return line(AUTHENTICATION, sc.UNKNOWN, "could not determine: the attendee's provider wrote no "
                    "Authentication-Results on the invitation", should)
    if not any(m == "dkim" and r == "pass" and (d == domain or d.endswith("." + domain)) for m, r, d in results):
        return line(AUTHENTICATION, sc.FAIL, "%s found no valid DKIM signature for %s on the invitation: %s"
                    % (writer, domain, found or "no results"), should,
                    ["the mail role signs what the gateway submits (imip_mail_dkim_enabled): on the mail host "
                     "`systemctl status dkimpy-milter` and `journalctl -u dkimpy-milter`",
                     "the report's DNS line for <selector>._domainkey.%s says whether the key is published" % domain])
    dmarc = [r for m, r, d in results if m == "dmarc"]
    if dmarc and "pass" not in dmarc:
        return line(AUTHENTICATION, sc.FAIL, "%s found a valid DKIM signature for %s but DMARC did not pass: %s"
                    % (writer, domain, found), should,
                    ["the report's DNS line for _dmarc.%s shows the published policy; a signature passes DMARC only "
                     "when its d= is %s or a subdomain and the From of the invitation is in %s" % (domain, domain, domain),
                     "dmarc=temperror or permerror: the provider could not read the DMARC record (the DNS lines)"])
    return line(AUTHENTICATION, sc.OK, "%s verified the invitation: %s" % (writer, found))
