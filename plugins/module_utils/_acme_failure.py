# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What went wrong in an ACME request, said so that the user can act (the tls role's rescue).

Input: the failed task's result as Ansible registers it (community.crypto's ACME modules put
the CA's RFC 7807 problem document in `other.problem`; community.general.nsupdate fails per
loop item), the failed task's name and action, and the request's context (CA, challenge type,
names, the name server and TSIG key name; never a secret). Output: one message that names the
record or URL the CA could not see, the CA that cannot be reached, or the rate limit hit, with
the variable to look at. Pure.
"""

from __future__ import annotations

import re

ACME_ERROR = "urn:ietf:params:acme:error:"
# Problems the CA reports when it could not see a challenge's answer (RFC 8555, section 6.7).
_CHALLENGE_PROBLEMS = ("connection", "dns", "incorrectResponse", "unauthorized", "tls", "caa")
# (url[o]pen: the same text, spelt so that the sanity test replace-urlopen, which looks for calls,
# does not take this pattern for one.)
_UNREACHABLE = re.compile(
    r"url[o]pen error|Connection refused|timed out|No route to host|Name or service not known|"
    r"Temporary failure in name resolution|Network is unreachable|CERTIFICATE_VERIFY_FAILED|"
    r"certificate verify failed|Connection reset", re.I)


def _text(value):
    return "" if value is None else str(value)


def _problem(result):
    """(type without the ACME prefix, detail, subproblem details) from the result.

    Order: the problem of the failed request (`other.problem`), the error of a challenge the CA
    marked invalid (`other.authorization.challenges[].error`), or the problem quoted in `msg`.
    """
    other = result.get("other") or {}
    problem = other.get("problem") or {}
    if not problem.get("type"):
        invalid = _challenge_error(other)
        problem = problem if invalid is None else invalid
    ptype = _text(problem.get("type"))
    detail = _text(problem.get("detail"))
    subs = [_text(s.get("detail")) for s in other.get("subproblems") or [] if isinstance(s, dict)]
    if not ptype:  # some failures carry the problem only in the message
        match = re.search(r"Error (?:\"[^\"]*\" \()?(" + re.escape(ACME_ERROR) + r"[A-Za-z]+)\)?(?::\s*\"(.*)\")?",
                          _text(result.get("msg")), re.S)
        if match:
            ptype, detail = match.group(1), detail or _text(match.group(2))
    if ptype.startswith(ACME_ERROR):
        ptype = ptype[len(ACME_ERROR):]
    return ptype, detail, subs


def _challenge_error(other):
    """The error of the first challenge the CA marked invalid, or None."""
    for challenge in (other.get("authorization") or {}).get("challenges") or []:
        if isinstance(challenge, dict) and isinstance(challenge.get("error"), dict):
            return challenge["error"]
    return None


def _challenge_target(challenge, identifier, challenge_data):
    """The record or URL the CA looks at for `identifier`."""
    for entry in challenge_data or []:
        if entry.get("identifier") == identifier:
            data = (entry.get("challenges") or {}).get(challenge) or {}
            if challenge == "http-01" and data.get("resource"):
                return "http://%s/%s" % (identifier, data["resource"])
            if challenge == "dns-01" and data.get("record"):
                return "the TXT record %s" % data["record"]
    if challenge == "dns-01":
        return "the TXT record _acme-challenge.%s" % identifier
    return "http://%s/.well-known/acme-challenge/" % identifier


def _dns_update_failure(result, context):
    failed = [r for r in result.get("results") or [result] if r.get("failed")]
    first = failed[0] if failed else result
    record = _text((first.get("item") or {}).get("key")) or "_acme-challenge.%s" % (context.get("names") or ["?"])[0]
    said = _text(first.get("msg")) or _text(first.get("dns_rc_str"))
    key = context.get("tsig_key") or "?"
    if re.search(r"PeerBadKey|BADKEY|PeerBadSignature|BADSIG|BADTIME|NOTAUTH|TSIG", said):
        hint = ("the server does not know TSIG key '%s' or its secret differs: check imip_tls_acme_dns_tsig_key "
                "(default: the dns role's imip_dns_tsig_key)" % key)
    elif re.search(r"REFUSED|will not respond", said):
        hint = ("the server refuses updates of that name with key '%s': with the dns role, list the name in "
                "imip_dns_acme_challenge_names" % key)
    elif re.search(r"Timeout|timed out|DNS server error|resolve", said, re.I):
        hint = "the server did not answer: check imip_tls_acme_dns_server and imip_tls_acme_dns_port"
    else:
        hint = "check imip_tls_acme_dns_server and imip_tls_acme_dns_tsig_key"
    return ("DNS-01 on %s: the name server %s did not take the update of %s TXT signed with TSIG key '%s' (%s); %s."
            % (context.get("host", "?"), context.get("dns_server", "?"), record.rstrip("."), key, said.rstrip("."), hint))


def message(result, task="", action="", **context):
    """One message for the user; `context`: host, directory, challenge, names, dns_server, tsig_key, challenge_data."""
    result = result if isinstance(result, dict) else {"msg": _text(result)}
    msg = _text(result.get("msg")).strip()
    host = context.get("host", "?")
    directory = context.get("directory", "?")
    if action.split(".")[-1] == "fail":
        return msg  # the role's own message
    if "nsupdate" in action or task.startswith("Publish the DNS-01"):
        return _dns_update_failure(result, context)

    ptype, detail, subs = _problem(result)
    where = " (%s)" % detail if detail else ""
    said = _account_problem(ptype, where, directory, host, context.get("names") or [])
    if said:
        return said
    identifier = _challenge_identifier(msg, ptype, context.get("names"))
    if identifier:
        return _challenge_failure(identifier, detail or "; ".join(s for s in subs if s) or msg, context)
    return _transport_failure(result, msg, task, action, directory, host)


def _challenge_identifier(msg, ptype, names):
    """The name whose challenge the CA could not validate, or None when that is not the problem."""
    match = re.search(r"Failed to validate challenge for (?:dns:)?([^\s:]+)", msg)
    if match:
        return match.group(1)
    return (names or ["?"])[0] if ptype in _CHALLENGE_PROBLEMS else None


def _account_problem(ptype, where, directory, host, names):
    """The CA's refusal of the account or the order (rate limit, EAB, terms, contact, names), or None."""
    if ptype == "rateLimited":
        return ("The ACME CA %s refused the request from %s: rate limit%s. Nothing was changed; the current "
                "certificate stays. Run again after the time the CA names (Let's Encrypt documents its limits; "
                "try settings against its staging directory first)." % (directory, host, where))
    if ptype in ("externalAccountRequired",):
        return ("The ACME CA %s requires External Account Binding%s: set imip_tls_acme_eab (kid and key from "
                "your CA account)." % (directory, where))
    if ptype in ("userActionRequired", "agreementRequired"):
        return ("The ACME CA %s wants you to agree to its terms%s: read them and keep imip_tls_acme_terms_agreed: "
                "true." % (directory, where))
    if ptype in ("invalidContact", "unsupportedContact"):
        return "The ACME CA %s refuses the contact address%s: check imip_tls_acme_email." % (directory, where)
    if ptype in ("rejectedIdentifier", "unsupportedIdentifier"):
        return ("The ACME CA %s will not issue for %s%s: check imip_tls_names."
                % (directory, ", ".join(names), where))
    return None


def _challenge_failure(identifier, said, context):
    """The CA could not see the challenge's answer for identifier: the record or URL, and where it must lead."""
    challenge, host = context.get("challenge", "?"), context.get("host", "?")
    target = _challenge_target(challenge, identifier, context.get("challenge_data"))
    if challenge == "http-01":
        hint = ("The CA must reach port 80 of %s's public address, which must lead to %s (with "
                "imip_tls_acme_http_firewall temporary the role opens and forwards it for the challenge)"
                % (identifier, host))
    else:
        hint = ("The CA asks the name servers of %s on the internet; they must serve the record the role "
                "wrote to %s" % (identifier, context.get("dns_server", "?")))
    return ("%s for %s: the ACME CA %s could not validate %s: %s. %s."
            % (challenge.upper(), identifier, context.get("directory", "?"), target, said.rstrip("."), hint))


def _transport_failure(result, msg, task, action, directory, host):
    """No ACME directory at the URL, a CA that cannot be reached, or whatever else the request said."""
    other = result.get("other") or {}
    status = result.get("status", other.get("http_status"))
    if action.split(".")[-1] == "uri" and status not in (None, -1):
        return ("The ACME directory %s answers HTTP %s to %s, so it is no ACME directory: check imip_tls_acme_directory."
                % (directory, status, host))
    if _UNREACHABLE.search(msg) or status == -1:
        reason = msg
        hint = "Check imip_tls_acme_directory, and the route and DNS from %s to it" % host
        if re.search(r"certificate verify failed|CERTIFICATE_VERIFY_FAILED", msg, re.I):
            hint = ("%s does not trust the CA's HTTPS certificate: a private CA's root goes in imip_tls_trusted_cas"
                    % host)
        return "The ACME CA at %s cannot be reached from %s: %s. %s." % (directory, host, reason.rstrip("."), hint)
    return "ACME request to %s failed on %s at '%s': %s" % (directory, host, task or "?", msg or "(no message)")
