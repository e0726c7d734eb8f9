"""What an IMAP server answers about one stored message: its BODYSTRUCTURE (as imapclient
parses it) and its body sections (RFC 3501 §6.4.5: "2.MIME", "2", "3.HEADER", "3.TEXT").

There is no IMAP server in these tests (Dovecot runs in the Molecule scenarios): this module
derives both from the raw message with the standard email parser, so the part-wise reader
(inbound/parts.py) can be run against any constructed message. `served` records every section
asked for, so a test can prove that a large part was never read.
"""

from __future__ import annotations

import email
import email.policy
from email.message import Message

from imapclient.response_types import BodyData


def _split(data: bytes) -> tuple[bytes, bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        index = data.find(sep)
        if index >= 0:
            return data[:index + len(sep)], data[index + len(sep):]
    return data, b""


def _params(part: Message) -> tuple:
    out = []
    for key, value in (part.get_params() or [])[1:]:
        out += [key.upper().encode(), str(value).encode()]
    return tuple(out) or None


class Mailbox:
    """One message as the server holds it."""

    def __init__(self, raw: bytes):
        self.sections: dict[str, bytes] = {}
        self.served: list[str] = []
        self.header, body = _split(raw)
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        self.structure = self._node(msg, "", top_body=body)

    def _node(self, part: Message, section: str, top_body: bytes | None = None) -> BodyData:
        maintype, subtype = part.get_content_maintype(), part.get_content_subtype()
        if section:
            self.sections[f"{section}.MIME"], body = _split(part.as_bytes())
        else:
            body = top_body
        if part.is_multipart() and maintype == "multipart":
            children = [self._node(child, f"{section}.{i}" if section else str(i))
                        for i, child in enumerate(part.get_payload(), 1)]
            return BodyData.create(tuple(children) + (subtype.upper().encode(), _params(part)))
        encoding = str(part.get("Content-Transfer-Encoding", "7bit")).upper().encode()
        if maintype == "message" and subtype in ("rfc822", "global"):
            inner = part.get_payload()[0]
            self.sections[f"{section}.HEADER"], inner_body = _split(inner.as_bytes())
            inner_node = self._inner(inner, section, inner_body)
            return BodyData.create((b"MESSAGE", subtype.upper().encode(), _params(part), None, None, encoding,
                                    len(body), None, tuple(inner_node), 0))
        self.sections[section or "TEXT"] = body
        return BodyData.create((maintype.upper().encode(), subtype.upper().encode(), _params(part), None, None,
                                encoding, len(body)) + ((body.count(b"\n"),) if maintype == "text" else ()))

    def _inner(self, inner: Message, section: str, inner_body: bytes) -> BodyData:
        if inner.is_multipart():
            children = [self._node(child, f"{section}.{i}") for i, child in enumerate(inner.get_payload(), 1)]
            return BodyData.create(tuple(children) + (inner.get_content_subtype().upper().encode(), _params(inner)))
        self.sections[f"{section}.TEXT"] = inner_body
        return BodyData.create((inner.get_content_maintype().upper().encode(),
                                inner.get_content_subtype().upper().encode(), _params(inner), None, None,
                                b"7BIT", len(inner_body)))

    def fetch(self, sections: list[str]) -> dict[str, bytes]:
        """parts.Fetch: "2<1537>" is the first 1537 octets of section 2."""
        out = {}
        for section in sections:
            name, _lt, limit = section.partition("<")
            self.served.append(section)
            data = self.sections.get(name, b"")
            out[name] = data[:int(limit.rstrip(">"))] if limit else data
        return out


class Client:
    """The FETCH of imapclient.IMAPClient for this one message, answering as a server would:
    b"BODY[2]<0>" for a partial, b"BODY[HEADER]" for the header."""

    def __init__(self, uid: int, mailbox: Mailbox):
        self.uid, self.mailbox = uid, mailbox
        self.requests: list[list[str]] = []

    def fetch(self, uids, items):
        self.requests.append(list(items))
        if list(uids) != [self.uid]:
            return {}
        out = {}
        for item in items:
            if item == "BODYSTRUCTURE":
                out[b"BODYSTRUCTURE"] = self.mailbox.structure
            elif item == "BODY.PEEK[HEADER]":
                out[b"BODY[HEADER]"] = self.mailbox.header
            elif item.startswith("BODY.PEEK["):
                name = item[len("BODY.PEEK["):item.index("]")]
                partial = item[item.index("]") + 1:]
                if partial:
                    count = int(partial.strip("<>").split(".")[1])
                    got = self.mailbox.fetch([f"{name}<{count}>"])[name]
                    out[f"BODY[{name}]<0>".encode()] = got
                else:
                    out[f"BODY[{name}]".encode()] = self.mailbox.fetch([name])[name]
        return {self.uid: out}
