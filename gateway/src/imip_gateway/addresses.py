"""Mail addresses, `mailto:` calendar user addresses and token (plus) addresses: one set of rules.

Every module of the gateway that parses, checks, normalises or compares an address does it here.

- Form of an address: `local@domain`, split at the **last** "@" (RFC 5321 §4.1.2: the domain
  follows the last "@"; a quoted local part may itself contain one).
- Comparison: case-insensitive for the whole address. RFC 5321 §2.4 lets a mailbox's local part
  be case-sensitive, but in practice no mail system treats `Bob@` and `bob@` as two mailboxes and
  calendar clients change the case freely (`MAILTO:Bob@Ext.Test` in real replies), so the
  gateway compares, stores and keys (tokens, sequences, jobs) lower-cased addresses, as Apple's
  gateway does. `str.lower()`, not `str.casefold()`: casefold maps ß to ss and would make two
  distinct internationalised (RFC 6531) mailboxes one, and would change every stored key.
  Non-ASCII addresses go through unchanged but for that lower-casing.
- Calendar user addresses (RFC 5545 §3.3.3 CAL-ADDRESS) are `mailto:` URIs (RFC 6047 §2.3); the
  scheme is case-insensitive (RFC 3986 §3.1), so `MAILTO:` is read too.
- Token addresses are `<invite-local>+<token>@<domain>`: a subaddress (RFC 5233 "user+detail",
  Postfix `recipient_delimiter = +`).
"""

from __future__ import annotations

import re
from typing import Iterable

__all__ = ["MAILTO", "base_local_part", "domain_of", "from_calendar_address", "is_address", "is_header_safe",
           "is_invitation_address", "is_mailto", "local_part_of", "normalise", "parse_token_address",
           "same_address", "split_address", "strip_mailto", "to_calendar_address", "token_address"]

MAILTO = "mailto:"
PLUS = "+"

# RFC 5322 §3.2.3 atext (dot-atom without the quoted-string form) @ LDH labels; ASCII only.
# [A-Za-z] rather than re.IGNORECASE: under IGNORECASE the Kelvin sign would match "k".
_PLAIN = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
# The invitation address in gateway.ini: atext without "+" (the token delimiter) @ a host name
# that starts and ends with a letter or digit.
_INVITATION = re.compile(r"[A-Za-z0-9.!#$%&'*/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
# What a token of ours can look like (uuid4 text, with room for other opaque forms); no "+".
# (^…$ with match(), as it always was: "$" also matches before a final newline.)
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,127}$")


def split_address(address: str) -> tuple[str, str]:
    """(local part, domain), split at the last "@" (RFC 5321 §4.1.2: a quoted local part may
    contain "@", the domain never does); ("", address) when there is no "@"."""
    local, _at, domain = address.rpartition("@")
    return local, domain


def local_part_of(address: str) -> str:
    """The local part (before the last "@", RFC 5321 §4.1.2); "" when there is no "@"."""
    return split_address(address)[0]


def domain_of(address: str) -> str:
    """The domain (after the last "@", RFC 5321 §4.1.2), as written; a value without "@" is
    taken as a bare domain and returned whole (as an RFC 8601 header.d is); "" after a final "@"."""
    return split_address(address)[1]


def base_local_part(local: str) -> str:
    """A local part without its subaddress: `calendar-invites+tok` -> `calendar-invites`
    (RFC 5233 "user+detail"; the delimiter is the first "+", as Postfix's recipient_delimiter)."""
    return local.partition(PLUS)[0]


def is_mailto(value: object) -> bool:
    """True when a calendar user address is a `mailto:` URI; the scheme is case-insensitive
    (RFC 3986 §3.1), so `MAILTO:` counts. No whitespace is skipped: callers that accept a
    padded value strip it first."""
    return str(value)[:len(MAILTO)].lower() == MAILTO


def strip_mailto(value: object) -> str:
    """The value without a leading `mailto:` scheme (any case, RFC 3986 §3.1), nothing else
    changed: no lower-casing and no trimming (for showing an address as it was written)."""
    text = str(value)
    return text[len(MAILTO):] if is_mailto(text) else text


def from_calendar_address(value: object) -> str:
    """The mail address of a calendar user address, in the gateway's compared form:
    `MAILTO:Bob@Ext.Test`, ` mailto: bob@ext.test `, `bob@ext.test` -> `bob@ext.test`.

    RFC 6047 §2.3: ORGANIZER/ATTENDEE are `mailto:` URIs; the scheme is case-insensitive (RFC
    3986 §3.1) and a URI holds no whitespace (RFC 3986 §2), so blanks around the value and after
    the scheme are dropped. The address is lower-cased (see the module docstring: compared
    case-insensitively in practice; `lower()`, so non-ASCII addresses keep their letters).
    A value without the scheme is taken as a bare address; None or "" gives "".
    """
    if value is None:
        return ""
    text = str(value).strip()
    if is_mailto(text):
        text = text[len(MAILTO):]
    return text.strip().lower()


def normalise(address: object) -> str:
    """A bare or `mailto:` address in the form the gateway compares and stores keys in (lower
    case, no scheme, no blanks): the same rule as from_calendar_address."""
    return from_calendar_address(address)


def to_calendar_address(address: object) -> str:
    """`mailto:` + the normalised address (RFC 6047 §2.3 wants a proper mailto: URI; the scheme
    is written in lower case): `MAILTO:Bob@Ext.Test` or `Bob@Ext.Test` -> `mailto:bob@ext.test`.
    This is the form of the attendee in tokens, jobs and sequences."""
    return MAILTO + from_calendar_address(address)


def same_address(first: object, second: object) -> bool:
    """True when two addresses (bare or `mailto:`, any case) name the same mailbox by the
    gateway's rule: equal once normalised (case-insensitive, RFC 5321 §2.4 in practice)."""
    return from_calendar_address(first) == from_calendar_address(second)


def is_address(address: str, *, root_dot: bool = False) -> bool:
    """True for a plain ASCII address the gateway may write to on a stranger's word: RFC 5322
    §3.2.3 atext (dots, "+" and the other specials; no quotes, blanks or controls) @ LDH labels
    (RFC 1035 §2.3.1 letters, digits, hyphens) separated by single dots.

    `root_dot` also accepts one trailing dot, the DNS root (`bob@example.test.`), as the
    inbound reply check always has; the invitation hand-off and a local copy's ORGANIZER never
    did. Non-ASCII (RFC 6531) addresses are not plain: they are stored and mailed (with
    SMTPUTF8), but never taken from an unauthenticated header as a target.
    """
    if root_dot and address.endswith("."):
        address = address[:-1]
    return _PLAIN.fullmatch(address) is not None


def is_header_safe(address: str) -> bool:
    """True when an address taken from a stranger's header can be written into a header of
    ours as it is: exactly one "@", printable ASCII, no blanks (RFC 5322 §2.2 header fields are
    US-ASCII; no CR/LF, so no header injection). Looser than is_address: the address is only
    shown to the organizer (Reply-To of a forward), never written to."""
    return bool(address) and address.count("@") == 1 and address.isascii() and address.isprintable() \
        and " " not in address


def is_invitation_address(address: str) -> bool:
    """True for an address that can be the gateway's invitation address ([invitations] address):
    ASCII atext local part without "+" (the token delimiter of RFC 5233 subaddresses: a "+" in
    the base would make token addresses ambiguous) @ a host name starting and ending with a
    letter or digit. Stricter than is_address on purpose: the operator's own configuration must
    fail loudly on a typo."""
    return _INVITATION.fullmatch(address) is not None


def token_address(local: str, token: str, domain: str) -> str:
    """`<local>+<token>@<domain>`: the reply address of one token, an RFC 5233 subaddress of
    the invitation address (Postfix's recipient_delimiter is "+"). Case is kept as given."""
    return f"{local}{PLUS}{token}@{domain}"


def parse_token_address(address: str, local: str, domains: Iterable[str]) -> str | None:
    """The token of `<local>+<token>@<domain>` (bare, `<…>` or `mailto:`), lower-cased, when the
    address is one of ours; else None.

    Local part and domain compare case-insensitively (module docstring); the domain may carry
    the DNS root's trailing dot and may be any of `domains` (the invitation address's domain
    and the local domains: replies arrive through aliases; given without that dot). The delimiter is the first "+"
    (RFC 5233); the token must look like one the gateway issues (no "+", at most 128
    characters), so `invites+a+b@` is not a token address.
    """
    address = address.strip().strip("<>")
    if is_mailto(address):
        address = address[len(MAILTO):]
    address_local, at, domain = address.rpartition("@")
    if not at or domain.lower().rstrip(".") not in {d.lower() for d in domains}:
        return None
    base, plus, token = address_local.partition(PLUS)
    if not plus or base.lower() != local.lower() or not _TOKEN.match(token):
        return None
    return token.lower()
