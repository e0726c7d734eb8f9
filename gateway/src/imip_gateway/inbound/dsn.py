"""Recognise delivery status notifications (RFC 3464) that report a failed invitation.

A bounce is never forwarded and never answered: it tells the organizer, through the attendee's
SCHEDULE-STATUS, that the invitation did not arrive.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field
from email.message import Message

from imip_gateway.addresses import local_part_of, normalise

from . import mime
from .recipients import header_text

__all__ = ["Bounce", "detect_bounce", "is_report", "plain_bounce"]

# Who writes bounces that are not RFC 3464 reports (qmail, old Exim and Sendmail setups,
# appliances): the daemon addresses of RFC 5321 §4.5.5 / RFC 2142.
DAEMON_LOCAL_PARTS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
# With a null envelope sender alone (vacation replies have one too, RFC 3834 §3.3) only a
# subject that says so makes a bounce.
FAILURE_SUBJECT = re.compile(r"undeliver|not (be )?delivered|delivery (status|failure|has failed)|failure notice|"
                             r"returned mail|mail delivery failed|returned to sender", re.IGNORECASE)
DELAY_SUBJECT = re.compile(r"delay|warning|will retry|still trying", re.IGNORECASE)
STATUS_IN_TEXT = re.compile(r"\b([45]\.[0-9]{1,3}\.[0-9]{1,3})\b")
TEXT_SCAN_LIMIT = 16384  # status codes are near the top of a bounce; never decode a whole attachment


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
    """A Bounce for multipart/report with a delivery-status part, or for a plain bounce
    (plain_bounce); else None."""
    if not is_report(msg):
        return plain_bounce(msg)
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
                recipients.append(normalise(recipient.strip().strip("<>")))
            status = status or (str(block.get("Status", "")).strip() or None)
    return Bounce(failed, recipients, status, mime.returned_message(msg))


def _text_start(msg: Message) -> str:
    for part, _depth in mime.iter_parts(msg):
        if part is None:
            break
        if part.get_content_type() == "text/plain":
            return mime.decoded_payload(part)[:TEXT_SCAN_LIMIT].decode("utf-8", "replace")
    return ""


def plain_bounce(msg: Message) -> Bounce | None:
    """A bounce an MTA wrote as plain mail, not as multipart/report: from MAILER-DAEMON or
    postmaster, or with a null envelope sender (Return-Path: <>) and a subject saying the mail
    was not delivered. The token comes from the envelope recipient (X-Original-To /
    Delivered-To: the invitation went out with the token address as envelope sender), so no
    returned message is needed. Delay warnings are not failures."""
    sender = email.utils.parseaddr(header_text(msg.get("From", "")))[1].lower()
    from_daemon = local_part_of(sender) in DAEMON_LOCAL_PARTS
    null_sender = str(msg.get("Return-Path", "")).strip() == "<>"
    subject = header_text(msg.get("Subject", ""))
    if not from_daemon and not (null_sender and FAILURE_SUBJECT.search(subject)):
        return None
    if DELAY_SUBJECT.search(subject) and not FAILURE_SUBJECT.search(subject):
        return Bounce(False)
    found = STATUS_IN_TEXT.search(_text_start(msg))
    return Bounce(True, [], found.group(1) if found else None, mime.returned_message(msg))
