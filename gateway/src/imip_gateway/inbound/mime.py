"""Find the iTIP calendar in a mail, whatever shape the sending client gave it.

Real clients put the calendar inside multipart/alternative, multipart/mixed, multipart/related
or multipart/signed, as `text/calendar` with or without the `method` parameter, or as
`application/ics`; encoded 7bit, 8bit (with or without a Content-Transfer-Encoding header),
base64 or quoted-printable; with or without a charset (RFC 6047 §2.4–2.5 says UTF-8). We take
the first calendar part and note the rest. Attached messages (message/rfc822) are not entered:
a forwarded invitation inside a human's mail is not that human's reply. Bounces are entered on
purpose, by ``returned_message``.
"""

from __future__ import annotations

import codecs
import email
import email.policy
import hashlib
from dataclasses import dataclass, field
from email.message import Message

__all__ = [
    "CalendarPart",
    "Extraction",
    "extract_calendars",
    "parse_message",
]

CALENDAR_TYPES = ("text/calendar", "application/ics")
# A mail with more parts than this, or nested deeper, is not a calendar reply: stop walking.
MAX_PARTS = 500
MAX_DEPTH = 20


@dataclass
class CalendarPart:
    content_type: str
    method_param: str | None  # the Content-Type `method` parameter, upper-cased, or None
    text: str
    size: int  # decoded octets
    digest: str


@dataclass
class Extraction:
    parts: list[CalendarPart] = field(default_factory=list)
    oversize: list[int] = field(default_factory=list)  # decoded (or encoded) sizes over the limit
    duplicates: int = 0  # identical copies of the first part (Google's application/ics)
    others: int = 0  # further calendar parts that differ from the first one
    truncated: bool = False  # more than MAX_PARTS parts or deeper than MAX_DEPTH

    @property
    def first(self) -> CalendarPart | None:
        return self.parts[0] if self.parts else None


def parse_message(raw: bytes) -> Message:
    """Parse with the compat32 policy: it never raises on bad headers or MIME structure."""
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def iter_parts(msg: Message, enter_messages: bool = False):
    """Depth-first leaf walk without recursion; yields (part, depth). Bounded."""
    stack = [(msg, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > MAX_PARTS or depth > MAX_DEPTH:
            yield None, depth  # signals truncation
            return
        ctype = part.get_content_type()
        # get_payload() on a leaf decodes 8bit text with the part's charset parameter and
        # raises ValueError for a charset holding a NUL byte: only containers are unpacked here.
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            if ctype.startswith("message/") and not enter_messages and depth > 0:
                yield part, depth
                continue
            for child in reversed(payload):
                if isinstance(child, Message):
                    stack.append((child, depth + 1))
            continue
        yield part, depth


def decoded_payload(part: Message) -> bytes:
    """Transfer-decoded bytes. compat32 decodes base64/QP leniently and returns 8bit as is."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken encodings must not escape; treat as empty
        return b""
    if data is None:
        return b""
    if isinstance(data, str):  # pragma: no cover - compat32 returns bytes for leaves
        return data.encode("utf-8", "surrogateescape")
    return data


def _charset(part: Message) -> str:
    charset = part.get_content_charset() or "utf-8"
    try:
        codecs.lookup(charset)
    except (LookupError, ValueError):  # unknown name; ValueError for names with a NUL byte
        return "utf-8"
    # "US-ASCII" labels on calendars that carry UTF-8 are common: decode as UTF-8 then.
    if charset.lower() in ("us-ascii", "ascii"):
        return "utf-8"
    return charset


def _method_param(part: Message) -> str | None:
    # get_param matches the parameter name case-insensitively (Horde sends METHOD=).
    value = part.get_param("method")
    if isinstance(value, tuple):  # RFC 2231 form
        value = email.utils.collapse_rfc2231_value(value)
    if not value:
        return None
    return str(value).strip().strip('"').upper() or None


def _encoded_size(part: Message) -> int:
    payload = part.get_payload()
    return len(payload) if isinstance(payload, (str, bytes)) else 0


def extract_calendars(msg: Message, max_bytes: int, enter_messages: bool = False) -> Extraction:
    """Every calendar part of `msg` in document order; parts over `max_bytes` are counted, not read."""
    result = Extraction()
    for part, _depth in iter_parts(msg, enter_messages=enter_messages):
        if part is None:
            result.truncated = True
            break
        ctype = part.get_content_type()
        if ctype not in CALENDAR_TYPES:
            continue
        # base64 grows by 4/3 and QP by up to 3x: refuse before decoding a huge part.
        encoded = _encoded_size(part)
        if encoded > 3 * max_bytes + 1024:
            result.oversize.append(encoded)
            continue
        data = decoded_payload(part)
        if len(data) > max_bytes:
            result.oversize.append(len(data))
            continue
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8):]
        text = data.decode(_charset(part), errors="replace")
        digest = hashlib.sha256(text.replace("\r\n", "\n").strip().encode("utf-8", "replace")).hexdigest()
        cal = CalendarPart(ctype, _method_param(part), text, len(data), digest)
        if result.parts:
            if digest == result.parts[0].digest:
                result.duplicates += 1
            else:
                result.others += 1
            continue
        result.parts.append(cal)
    return result


def returned_message(msg: Message) -> Message | None:
    """The original message inside a bounce (message/rfc822, or text/rfc822-headers)."""
    for part, _depth in iter_parts(msg, enter_messages=False):
        if part is None:
            return None
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if ctype == "text/rfc822-headers":
            return parse_message(decoded_payload(part))
    return None
