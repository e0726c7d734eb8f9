"""Sender authentication from our own MTA's Authentication-Results (RFC 8601).

Only headers whose authserv-id is ours are read: anyone can write an Authentication-Results
header into a mail, and RFC 8601 §5 makes the receiving MTA responsible for removing copies that
claim its own id (the imip.server mail role's DKIM milter does, before any of our checks add
theirs). Every header of ours counts: the checks on arrival write one each (DKIM, SPF).

A result authenticates the attendee only when it is aligned with the attendee's domain (the
domain of the ATTENDEE the reply token was issued for), as DMARC's relaxed alignment asks: the
DKIM signature's `header.d`, or the SPF-checked `smtp.mailfrom`, is that domain, a parent of it
or a subdomain of it. Without a public suffix list a parent counts only with at least two labels
(a signature for `example.org` authenticates `lists.example.org`, none for `org`).

Policies: `off` (not read), `warn` (logged, never rejects), `require_dkim_or_spf` (the default:
a pass of either, aligned), `require_dmarc` (Stalwart's fixed rule, which cuts off senders whose
domain publishes no DMARC record; so it is not our default). From ≠ ATTENDEE is always allowed:
the token, not the From, identifies the attendee.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

from imip_gateway.addresses import domain_of

__all__ = ["AuthVerdict", "POLICIES", "aligned", "evaluate", "parse_results"]

POLICIES = ("off", "warn", "require_dkim_or_spf", "require_dmarc")
_RESULT = re.compile(r"^\s*(dkim|spf|dmarc)\s*=\s*([A-Za-z]+)", re.IGNORECASE)
_PROPERTY = re.compile(r"\b(header\.[a-z]+|smtp\.[a-z]+)\s*=\s*(\"[^\"]*\"|[^\s;]+)", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")
# Which property names the authenticated domain of each method.
_IDENTITY = {"dkim": ("header.d", "header.i"), "spf": ("smtp.mailfrom", "smtp.helo"), "dmarc": ("header.from",)}


@dataclass
class AuthVerdict:
    policy: str
    found: bool  # a header of ours was present
    results: dict[str, str] = field(default_factory=dict)  # method -> best result (pass wins)
    passed: bool = True  # the policy lets the message through
    note: str = ""  # what the log line says


@dataclass
class Result:
    method: str
    result: str
    domain: str = ""  # the authenticated domain (header.d, smtp.mailfrom's domain, header.from)


def _domain_of(value: str) -> str:
    return domain_of(value.strip('"').strip().lower().rstrip("."))


def parse_results(msg: Message, authserv_id: str) -> list[Result] | None:
    """Every result of the Authentication-Results headers carrying `authserv_id`, or None when
    there is none."""
    wanted = authserv_id.strip().lower()
    found: list[Result] | None = None
    for value in msg.get_all("Authentication-Results") or []:
        text = _COMMENT.sub("", str(value)).replace("\r", " ").replace("\n", " ")
        serv = text.split(";", 1)[0].strip().split()
        if not serv or serv[0].lower() != wanted:
            continue
        found = found if found is not None else []
        for resinfo in (text.split(";")[1:] if ";" in text else []):
            match = _RESULT.match(resinfo)
            if not match:
                continue
            method, result = match.group(1).lower(), match.group(2).lower()
            props = {name.lower(): _domain_of(val) for name, val in _PROPERTY.findall(resinfo)}
            domain = next((props[name] for name in _IDENTITY[method] if props.get(name)), "")
            found.append(Result(method, result, domain))
    return found


def _ascii(domain: str) -> str:
    """A domain in A-labels, lower case: how DKIM (d=) and SPF name an internationalized one."""
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def aligned(authenticated: str, attendee_domain: str) -> bool:
    """True when the authenticated domain is the attendee's, a parent of at least two labels, or
    a subdomain of it (relaxed alignment, without a public suffix list). Internationalized
    domains compare in A-labels (`bücher.example` is `xn--bcher-kva.example`)."""
    a, b = _ascii(authenticated), _ascii(attendee_domain)
    if not a or not b:
        return False
    if a == b:
        return True
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return shorter.count(".") >= 1 and longer.endswith("." + shorter)


def evaluate(msg: Message, policy: str, authserv_id: str, attendee_domain: str | None = None) -> AuthVerdict:
    """The policy's verdict on `msg`; with `attendee_domain`, only aligned passes count."""
    if policy == "off":
        return AuthVerdict(policy, False, note="auth policy off")
    parsed = parse_results(msg, authserv_id) if authserv_id else None
    found = parsed is not None
    parsed = parsed or []
    results: dict[str, str] = {}
    for item in parsed:
        if results.get(item.method) != "pass":
            results[item.method] = item.result

    def passes(method: str) -> bool:
        return any(item.method == method and item.result == "pass"
                   and (attendee_domain is None or aligned(item.domain, attendee_domain)) for item in parsed)

    summary = "; ".join(f"{item.method}={item.result}" + (f" ({item.domain})" if item.domain else "")
                        for item in parsed) or (
        f"no Authentication-Results from {authserv_id}" if authserv_id else "no authserv-id configured")
    for_whom = f" aligned with {attendee_domain}" if attendee_domain else ""
    dkim_or_spf = passes("dkim") or passes("spf")
    if policy == "require_dmarc":
        dmarc = passes("dmarc")
        return AuthVerdict(policy, found, results, dmarc, summary if dmarc else f"no dmarc pass{for_whom} ({summary})")
    if policy == "require_dkim_or_spf":
        return AuthVerdict(policy, found, results, dkim_or_spf,
                           summary if dkim_or_spf else f"neither dkim nor spf pass{for_whom} ({summary})")
    # warn (and any unknown value, which the config check refuses before we get here)
    note = summary if dkim_or_spf else f"warning: sender not authenticated{for_whom} ({summary})"
    return AuthVerdict("warn", found, results, True, note)
