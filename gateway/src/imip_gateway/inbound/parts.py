"""Read a large message by parts over IMAP: only what the Processor looks at.

A reply with a 25 MB attachment fetched whole costs the message several times over in memory
(the IMAP literal, imapclient's parse, the email parser's copy): hundreds of MB for one mail.
Above `whole_message_limit` the worker asks the server for BODYSTRUCTURE and the header, then
fetches only the parts the Processor reads: calendar parts (at most enough octets to see that
one is over max_itip_bytes), delivery-status reports, returned headers and the start of text
parts (plain bounces). They are put back together as one MIME message of the same top-level
type; every other part is left on the server. The result is deterministic, so the dedupe key
(Message-ID + body hash) is the same on every pass.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from imapclient.response_types import BodyData

__all__ = ["assemble", "read_by_parts", "whole_message_limit"]

CALENDAR_TYPES = ("text/calendar", "application/ics")
REPORT_TYPES = ("message/delivery-status", "message/global-delivery-status", "text/rfc822-headers")
MESSAGE_TYPES = ("message/rfc822", "message/global")
REPORT_LIMIT = 65536  # a delivery-status part is a few hundred octets; never more than this
TEXT_LIMIT = 16384  # the start of a text part: where a plain bounce says what failed
OMITTED_HEADER = "X-IMIP-Gateway-Omitted"
_CONTENT_FIELD = re.compile(rb"^(content-type|content-transfer-encoding)\s*:", re.IGNORECASE)

Fetch = Callable[[list[str]], dict[str, bytes]]


def whole_message_limit(max_itip_bytes: int) -> int:
    """Messages up to this size are fetched whole: four calendar parts of the largest size
    allowed (base64 adds a third) and their text still fit; larger ones are read by parts."""
    return 4 * max_itip_bytes


def _text(value) -> str:
    return value.decode("ascii", "replace").lower() if isinstance(value, bytes) else str(value or "").lower()


def _ctype(node: BodyData) -> str:
    return f"{_text(node[0])}/{_text(node[1])}"


def _size(node: BodyData) -> int:
    try:
        return int(node[6])
    except (IndexError, TypeError, ValueError):
        return 0


def _limit(ctype: str, max_itip_bytes: int) -> int | None:
    """How many octets of a leaf of `ctype` to read; None: not read at all."""
    if ctype in CALENDAR_TYPES:
        return 3 * max_itip_bytes + 1025  # mime.extract_calendars counts more than 3x+1024 as oversize
    if ctype in REPORT_TYPES:
        return REPORT_LIMIT
    if ctype == "text/plain":
        return TEXT_LIMIT
    return None


def _without_content_fields(header: bytes) -> bytes:
    """`header` (fields, CRLF or LF) minus Content-Type and Content-Transfer-Encoding."""
    out, skipping = [], False
    for line in header.replace(b"\r\n", b"\n").split(b"\n"):
        if not line.strip():
            continue
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                out.append(line)
            continue
        skipping = bool(_CONTENT_FIELD.match(line))
        if not skipping:
            out.append(line)
    return b"\r\n".join(out) + b"\r\n" if out else b""


def _head(header: bytes) -> bytes:
    """A header block ending in exactly one blank line (servers send HEADER and MIME sections
    with their blank line, RFC 3501 §6.4.5)."""
    header = header.replace(b"\r\n", b"\n").strip(b"\n").replace(b"\n", b"\r\n")
    return header + b"\r\n\r\n" if header else b"\r\n"


def _multipart_header(node: BodyData, boundary: str) -> bytes:
    subtype = _text(node[1]) or "mixed"
    params = node[2] if len(node) > 2 and isinstance(node[2], tuple) else ()
    extra = "".join(f'; {_text(k)}="{_text(v)}"' for k, v in zip(params[::2], params[1::2])
                    if _text(k) != "boundary" and re.fullmatch(r"[a-z0-9.+_-]+", _text(k))
                    and re.fullmatch(r"[a-z0-9.+_/ -]*", _text(v)))
    return f'Content-Type: multipart/{subtype}{extra}; boundary="{boundary}"\r\n'.encode()


class _Reader:
    def __init__(self, fetch: Fetch, max_itip_bytes: int, boundary: str):
        self.fetch = fetch
        self.max_itip_bytes = max_itip_bytes
        self.boundary = boundary
        self.omitted = 0  # octets left on the server

    def body(self, node: BodyData, prefix: str) -> bytes:
        """The body of an entity whose structure is `node` (its header written by the caller)."""
        if not node.is_multipart:
            section = f"{prefix}.TEXT" if prefix else "TEXT"
            return self._leaf_octets(node, section)
        level = self.boundary + "-" + prefix.replace(".", "-") if prefix else self.boundary
        chunks = []
        for index, child in enumerate(node[0], 1):
            entity = self.entity(child, f"{prefix}.{index}" if prefix else str(index))
            if entity is not None:
                chunks.append(b"--" + level.encode() + b"\r\n" + entity + b"\r\n")
        return b"".join(chunks) + b"--" + level.encode() + b"--\r\n"

    def entity(self, node: BodyData, section: str) -> bytes | None:
        """One part (its MIME header and body), or None when the Processor does not read it."""
        if node.is_multipart:
            level = self.boundary + "-" + section.replace(".", "-")
            return _head(_multipart_header(node, level)) + self.body(node, section)
        ctype = _ctype(node)
        if ctype in MESSAGE_TYPES and len(node) > 8 and isinstance(node[8], tuple):
            # A returned message (bounces): its header, and its own parts read the same way.
            got = self.fetch([f"{section}.MIME", f"{section}.HEADER"])
            inner = BodyData.create(node[8])
            header = got.get(f"{section}.HEADER", b"")
            if inner.is_multipart:
                header = _without_content_fields(header) + _multipart_header(
                    inner, self.boundary + "-" + section.replace(".", "-"))
            return _head(got.get(f"{section}.MIME", b"")) + _head(header) + self.body(inner, section)
        limit = _limit(ctype, self.max_itip_bytes)
        if limit is None:
            self.omitted += _size(node)
            return None
        got = self.fetch([f"{section}.MIME", f"{section}<{limit}>"])
        return _head(got.get(f"{section}.MIME", b"")) + got.get(section, b"")

    def _leaf_octets(self, node: BodyData, section: str) -> bytes:
        limit = _limit(_ctype(node), self.max_itip_bytes)
        if limit is None:
            self.omitted += _size(node)
            return b""
        return self.fetch([f"{section}<{limit}>"]).get(section, b"")


def assemble(header: bytes, structure: BodyData, fetch: Fetch, max_itip_bytes: int, size: int) -> bytes:
    """The message the Processor reads, from its `header`, its BODYSTRUCTURE and `fetch`. Asked
    for sections such as "2.MIME", "2<1537>" (the first 1537 octets of part 2), "3.HEADER" or
    "TEXT<16384>", `fetch` answers {name without the <count>: octets}."""
    boundary = "=_imip_parts_" + hashlib.sha256(header + str(size).encode()).hexdigest()[:24]
    reader = _Reader(fetch, max_itip_bytes, boundary)
    if structure.is_multipart:
        top = _without_content_fields(header) + _multipart_header(structure, boundary)
    else:
        top = _head(header)[:-2]
    body = reader.body(structure, "")
    note = f"{OMITTED_HEADER}: {reader.omitted} octets of other parts left on the server\r\n".encode()
    return top + note + b"\r\n" + body


def _section_key(item: bytes) -> str:
    """b"BODY[2.MIME]" -> "2.MIME"; b"BODY[2]<0>" -> "2" (a partial's origin is dropped)."""
    text = item.decode("ascii", "replace")
    return text[text.index("[") + 1:text.index("]")] if "[" in text and "]" in text else text


def read_by_parts(client, uid: int, size: int, max_itip_bytes: int) -> bytes | None:
    """assemble() over an IMAPClient: one FETCH for BODYSTRUCTURE and header, one per part read."""
    first = client.fetch([uid], ["BODYSTRUCTURE", "BODY.PEEK[HEADER]"]).get(uid)
    if first is None:
        return None

    def fetch(sections: list[str]) -> dict[str, bytes]:
        items = []
        for section in sections:
            name, _lt, limit = section.partition("<")
            items.append(f"BODY.PEEK[{name}]<0.{limit.rstrip('>')}>" if limit else f"BODY.PEEK[{name}]")
        got = client.fetch([uid], items).get(uid) or {}
        return {_section_key(k): v or b"" for k, v in got.items() if isinstance(k, bytes) and k.startswith(b"BODY[")}

    return assemble(first.get(b"BODY[HEADER]") or b"", first[b"BODYSTRUCTURE"], fetch, max_itip_bytes, size)
