"""Sender authentication from our own MTA's Authentication-Results (RFC 8601).

Only a header whose authserv-id is ours is read: anyone can write an Authentication-Results
header into a mail, and RFC 8601 §5 makes the receiving MTA responsible for removing copies that
claim its own id. Of ours, the topmost one counts (the last hop adds it on top).

Policies: `off` (not read), `warn` (logged, never rejects; the default), `require_dkim_or_spf`,
`require_dmarc` (Stalwart's fixed rule, which cuts off DKIM-only senders; so it is not our
default). From ≠ ATTENDEE is always allowed: the token, not the From, identifies the attendee.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

__all__ = ["AuthVerdict", "POLICIES", "evaluate", "parse_results"]

POLICIES = ("off", "warn", "require_dkim_or_spf", "require_dmarc")
_RESULT = re.compile(r"\b(dkim|spf|dmarc)\s*=\s*([A-Za-z]+)", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")


@dataclass
class AuthVerdict:
    policy: str
    found: bool  # a header of ours was present
    results: dict[str, str] = field(default_factory=dict)  # method -> best result
    passed: bool = True  # the policy lets the message through
    note: str = ""  # what the log line says


def parse_results(msg: Message, authserv_id: str) -> dict[str, str] | None:
    """Results of the topmost Authentication-Results header carrying `authserv_id`."""
    wanted = authserv_id.strip().lower()
    for value in msg.get_all("Authentication-Results") or []:
        text = _COMMENT.sub("", str(value)).replace("\r", " ").replace("\n", " ")
        serv = text.split(";", 1)[0].strip().split()
        if not serv or serv[0].lower() != wanted:
            continue
        results: dict[str, str] = {}
        for method, result in _RESULT.findall(text.split(";", 1)[1] if ";" in text else ""):
            method, result = method.lower(), result.lower()
            # Several dkim= results (several signatures): one pass is enough.
            if results.get(method) != "pass":
                results[method] = result
        return results
    return None


def evaluate(msg: Message, policy: str, authserv_id: str) -> AuthVerdict:
    if policy == "off":
        return AuthVerdict(policy, False, note="auth policy off")
    results = parse_results(msg, authserv_id) if authserv_id else None
    found = results is not None
    results = results or {}
    dkim_or_spf = results.get("dkim") == "pass" or results.get("spf") == "pass"
    dmarc = results.get("dmarc") == "pass"
    summary = ", ".join(f"{k}={v}" for k, v in sorted(results.items())) or (
        f"no Authentication-Results from {authserv_id}" if authserv_id else "no authserv-id configured")
    if policy == "require_dmarc":
        return AuthVerdict(policy, found, results, dmarc, summary if dmarc else f"dmarc not pass ({summary})")
    if policy == "require_dkim_or_spf":
        return AuthVerdict(policy, found, results, dkim_or_spf,
                           summary if dkim_or_spf else f"neither dkim nor spf pass ({summary})")
    # warn (and any unknown value, which the config check refuses before we get here)
    note = summary if dkim_or_spf else f"warning: sender not authenticated ({summary})"
    return AuthVerdict("warn", found, results, True, note)
