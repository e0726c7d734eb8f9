"""Recognise delivery status notifications (RFC 3464) that report a failed invitation.

A bounce is never forwarded and never answered: it tells the organizer, through the attendee's
SCHEDULE-STATUS, that the invitation did not arrive (requirement 19).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message

from . import mime

__all__ = ["Bounce", "detect_bounce", "is_report"]


@dataclass
class Bounce:
    failed: bool
    final_recipients: list[str] = field(default_factory=list)
    status: str | None = None  # e.g. "5.1.1"
    returned: Message | None = None


def is_report(msg: Message) -> bool:
    return msg.get_content_type() == "multipart/report"


def _status_blocks(msg: Message) -> list[Message]:
    blocks: list[Message] = []
    for part, _depth in mime.iter_parts(msg):
        if part is None:
            break
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list):
                blocks.extend(p for p in payload if isinstance(p, Message))
            elif isinstance(payload, str):
                # Some MTAs' reports are not split into blocks by the parser: read them here.
                for chunk in payload.replace("\r\n", "\n").split("\n\n"):
                    blocks.append(mime.parse_message(chunk.encode("utf-8", "replace")))
    return blocks


def detect_bounce(msg: Message) -> Bounce | None:
    """A Bounce for multipart/report with a delivery-status part, else None."""
    if not is_report(msg):
        return None
    blocks = _status_blocks(msg)
    if not blocks:
        return None
    failed = False
    recipients = []
    status = None
    for block in blocks:
        action = str(block.get("Action", "")).strip().lower()
        if action == "failed":
            failed = True
            recipient = str(block.get("Final-Recipient", "") or block.get("Original-Recipient", ""))
            if ";" in recipient:
                recipient = recipient.split(";", 1)[1]
            if recipient.strip():
                recipients.append(recipient.strip().strip("<>").lower())
            status = status or (str(block.get("Status", "")).strip() or None)
    return Bounce(failed, recipients, status, mime.returned_message(msg))
