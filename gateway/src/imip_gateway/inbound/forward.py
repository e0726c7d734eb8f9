"""The one mail the organizer gets about a reply we did not (only) apply.

A **new** message, never a re-send of the original: `From:` our invitation address, so SPF,
DKIM and DMARC align on our domain (re-sending "from" the attendee breaks DMARC, the Carbonio
failure); `Reply-To:` the original sender, so the organizer's answer reaches the attendee;
RFC 3834 `Auto-Submitted: auto-generated`; our loop header; the original attached as
message/rfc822. The Message-ID derives from the inbound message's dedupe key, so a retry after
a crash sends the same message, which the receiving side can recognise.
"""

from __future__ import annotations

import email.utils
from email.message import EmailMessage, Message
from email.policy import SMTP

from imip_gateway.addresses import domain_of, is_header_safe

from .recipients import header_text

__all__ = ["LOOP_HEADER", "build_forward"]

# Outbound (gateway-out) stamps the same header with the same value; see imip_gateway's docs.
LOOP_HEADER = "X-IMIP-Gateway"

_INTRO = {
    "counter": "proposes a different time for your event",
    "comment": "answered your invitation with a comment",
    "request": "sent a calendar message the gateway does not apply",
    "rejected": "sent a reply that the gateway did not apply",
    "non-itip": "wrote to the invitation address",
}


def _sender(original: Message) -> tuple[str, str]:
    """(display name, address) of whom the organizer's answer should reach; the address only
    when it can go into a header as is (ASCII, one @, no spaces): otherwise it is named in the
    body only."""
    for name in ("Reply-To", "From", "Sender"):
        value = original.get(name)
        if value:
            display, addr = email.utils.parseaddr(header_text(value))
            if is_header_safe(addr):
                return display, addr
    return "", ""


def _clean(text: str, limit: int = 200) -> str:
    # Header values come from strangers: no CR/LF (header injection), bounded length.
    return " ".join(str(text).split())[:limit]


def build_forward(
    original_raw: bytes,
    original: Message,
    *,
    kind: str,
    reason: str,
    organizer: str,
    invitation_address: str,
    site_name: str,
    instance_id: str,
    message_key: str,
    details: str = "",
) -> EmailMessage:
    """The forward to `organizer` (a bare address); `kind` is a key of _INTRO."""
    display, sender = _sender(original)
    who = _clean(f"{display} <{sender}>" if display else sender) or "Someone"
    subject = _clean(header_text(original.get("Subject", "")), 150) or "(no subject)"
    domain = domain_of(invitation_address) or "localhost"

    msg = EmailMessage(policy=SMTP)
    msg["From"] = email.utils.formataddr((_clean(f"{site_name} calendar invitations", 80), invitation_address))
    msg["To"] = organizer
    if sender:
        msg["Reply-To"] = email.utils.formataddr((_clean(display, 80), sender))
    msg["Subject"] = f"Fwd: {subject}"
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = f"<fwd.{message_key[:48]}@{domain}>"
    original_id = _clean(original.get("Message-ID", ""), 250)
    if original_id.startswith("<") and original_id.endswith(">"):
        msg["In-Reply-To"] = original_id
        msg["References"] = original_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = instance_id

    lines = [
        f"{who} {_INTRO.get(kind, _INTRO['non-itip'])}.",
        "",
        f"Gateway decision: {reason}",
    ]
    if details:
        lines += ["", details.strip()]
    lines += [
        "",
        "The original message is attached. Replying to this mail writes to the sender.",
    ]
    msg.set_content("\n".join(lines) + "\n", charset="utf-8")
    try:
        # The bytes as received, as message/rfc822 (8bit allowed; RFC 2046 forbids base64 here).
        msg.add_attachment(email.message_from_bytes(original_raw), disposition="attachment",
                           filename="original.eml")
        msg.as_bytes()  # prove it serialises; hostile structure falls back below
    except Exception:  # noqa: BLE001 - e.g. undecodable header bytes in a hostile message
        msg.clear_content()
        msg.set_content("\n".join(lines) + "\n", charset="utf-8")
        msg.add_attachment(original_raw, maintype="application", subtype="octet-stream",
                           disposition="attachment", filename="original.eml")
    return msg
