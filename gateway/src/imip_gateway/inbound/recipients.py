"""Where a reply's token may be: the envelope recipient first, then To/Cc, then ORGANIZER.

The token is the plus-part of `<invite-local>+<token>@<domain>`. Apple's
gateway read only the first To address; real replies often go to the token address only through
the envelope (Bcc-like delivery, list expansion, an alias), which our own Postfix records in
X-Original-To and Dovecot in Delivered-To.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message

from imip_gateway.addresses import parse_token_address, split_address

__all__ = ["TokenCandidate", "InviteAddress", "token_candidates", "header_text"]

HEADER_ORDER = ("X-Original-To", "Delivered-To", "To", "Cc")


@dataclass(frozen=True)
class TokenCandidate:
    token: str
    source: str  # header name or "ORGANIZER"


@dataclass(frozen=True)
class InviteAddress:
    """The invitation address, split: `calendar-invites@example.test` + the local domains."""

    local: str
    domains: frozenset[str]

    @classmethod
    def from_config(cls, address: str, local_domains=()) -> InviteAddress:
        local, domain = split_address(address.strip())
        domains = {d.strip().lower() for d in local_domains if d and d.strip()}
        domains.add(domain.lower())
        return cls(local.lower(), frozenset(domains))

    def token_of(self, address: str) -> str | None:
        """The token of `local+token@domain` (case-insensitive local part and domain), by
        addresses.parse_token_address."""
        return parse_token_address(address, self.local, self.domains)

    def address(self, domain: str | None = None) -> str:
        return f"{self.local}@{domain or sorted(self.domains)[0]}"


def header_text(value) -> str:
    """A header value as text, RFC 2047 words decoded, never raising."""
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except Exception:  # noqa: BLE001 - undecodable encoded-words: keep the raw text
        return str(value)


def _addresses(msg: Message, name: str) -> list[str]:
    values = msg.get_all(name) or []
    try:
        return [addr for _name, addr in email.utils.getaddresses([str(v) for v in values]) if addr]
    except Exception:  # noqa: BLE001 - getaddresses on hostile input
        return []


def token_candidates(msg: Message, invite: InviteAddress, organizer: str | None) -> list[TokenCandidate]:
    """Distinct tokens in lookup order; `organizer` is the calendar's ORGANIZER value (or None)."""
    found: list[TokenCandidate] = []
    seen: set[str] = set()
    for name in HEADER_ORDER:
        for addr in _addresses(msg, name):
            token = invite.token_of(addr)
            if token and token not in seen:
                seen.add(token)
                found.append(TokenCandidate(token, name))
    if organizer:
        token = invite.token_of(organizer)
        if token and token not in seen:
            found.append(TokenCandidate(token, "ORGANIZER"))
    return found
