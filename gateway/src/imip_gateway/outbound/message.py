"""The RFC 6047 message around an iTIP object, built with `email`.

    multipart/mixed
      multipart/alternative
        text/plain; charset=utf-8                   (human-readable summary)
        [text/html; charset=utf-8]                  (only when templates_dir has one)
        text/calendar; charset=UTF-8; method=REQUEST  (base64, CRLF lines)
      application/ics; name=invite.ics             (the same object as an attachment)

Headers: From "<Organizer CN> (via <site>)" <invitation address> (our domain, so SPF/DKIM/DMARC
align; a long or non-ASCII name as folded RFC 2047 encoded-words, so no line exceeds 998
octets), To the attendee (a non-ASCII domain as IDNA A-labels; a non-ASCII local part as UTF-8,
RFC 6532), Reply-To the token address, Date, a Message-ID derived from the job id
(stable across retries), Auto-Submitted: auto-generated (RFC 3834) and the loop header
X-IMIP-Gateway: <instance id>.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import string
from dataclasses import dataclass
from email import encoders
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from pathlib import Path

import icalendar

from imip_gateway.addresses import strip_mailto
from imip_gateway.ical import events
from imip_gateway.submission import smtp_address

LOOP_HEADER = "X-IMIP-Gateway"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# A quoted display name folds only at spaces; a word longer than this goes out encoded instead.
_LONGEST_PLAIN_WORD = 60


def clean_header_text(value: str) -> str:
    """No CR/LF or other control characters in header text (header injection)."""
    return _CONTROL.sub(" ", value).strip()


def from_header(display_name: str, address: str) -> str | Header:
    """`"Name" <address>`; a name that is not ASCII or has a word too long to fold becomes
    RFC 2047 encoded-words, which Header splits into lines of at most 78 characters."""
    name = clean_header_text(display_name)
    if name.isascii() and all(len(word) <= _LONGEST_PLAIN_WORD for word in name.split()):
        return formataddr((name, address))
    header = Header(name, "utf-8", header_name="From")
    header.append(f"<{address}>", "us-ascii")
    return header


def to_header(address: str) -> str:
    """The attendee's address for the To header, as smtp_address makes it for the envelope.
    A non-ASCII local part stays UTF-8 (RFC 6532), carried as surrogates: compat32 writes such
    a header unchanged instead of as an encoded-word, which is not allowed in an address."""
    address = smtp_address(clean_header_text(address))
    return address if address.isascii() else address.encode("utf-8").decode("ascii", "surrogateescape")


def message_id_for(job_id: str, domain: str) -> str:
    return f"<imip-{job_id}@{domain}>"


@dataclass(frozen=True)
class Envelope:
    job_id: str
    message_id: str
    method: str
    reason: str
    attendee: str            # mailto:...
    organizer_name: str
    organizer_address: str
    token_address: str       # "" for a REPLY
    from_address: str        # the invitation address; for a REPLY the local user's
    site_name: str
    instance_id: str


def _first_event(comps: list[icalendar.cal.Component]) -> icalendar.cal.Component | None:
    masters = [c for c in comps if c.get("RECURRENCE-ID") is None]
    return (masters or comps or [None])[0]


def display_fields(components: list[icalendar.cal.Component]) -> dict[str, str]:
    """What the human-readable part shows; computed once when the job is made and stored with it."""
    event = _first_event(components)
    return {
        "summary": str(event.get("SUMMARY", "")) if event is not None else "",
        "when": _when(event),
        "location": str(event.get("LOCATION", "")) if event is not None else "",
        "description": str(event.get("DESCRIPTION", "")) if event is not None else "",
    }


def _when(event: icalendar.cal.Component | None) -> str:
    if event is None or event.get("DTSTART") is None:
        return ""
    start = event.get("DTSTART").dt
    tzid = event.get("DTSTART").params.get("TZID")
    if isinstance(start, dt.datetime):
        text = start.strftime("%Y-%m-%d %H:%M")
        zone = tzid or (start.tzname() if start.tzinfo else "")
        return f"{text} {zone}".strip()
    return start.strftime("%Y-%m-%d") + " (all day)"


# A REPLY's subject begins with the answer, as calendar clients write it.
ANSWER_WORDS = {"ACCEPTED": "Accepted", "DECLINED": "Declined", "TENTATIVE": "Tentative",
                "DELEGATED": "Delegated"}


def subject_for(method: str, reason: str, summary: str, answer: str = "") -> str:
    if method == "REPLY":
        prefix = ANSWER_WORDS.get(answer.upper(), "Answer")
    elif method == "CANCEL":
        prefix = "Cancelled"
    elif reason == "new attendee":
        prefix = "Invitation"
    else:
        prefix = "Updated invitation"
    return clean_header_text(f"{prefix}: {summary}" if summary else prefix)


def _fields(envelope: Envelope, display: dict[str, str]) -> dict[str, str]:
    return {
        **{key: display.get(key, "") for key in ("summary", "when", "location", "description")},
        "organizer": envelope.organizer_name or envelope.organizer_address,
        "organizer_address": envelope.organizer_address,
        "attendee": strip_mailto(envelope.attendee),
        "site": envelope.site_name,
        "method": envelope.method,
        "answer": ANSWER_WORDS.get(display.get("answer", "").upper(), "answered").lower(),
        "attendee_name": display.get("attendee_name") or strip_mailto(envelope.attendee),
    }


DEFAULT_TEXT = {
    "request": ("$organizer invites you to: $summary\n\nWhen:  $when\nWhere: $location\n\n$description\n\n"
                "Your calendar program can accept or decline this invitation; the answer goes back to "
                "$organizer.\n-- \nSent for $organizer by the calendar of $site.\n"),
    "update": ("$organizer updated an event you are invited to: $summary\n\nWhen:  $when\n"
               "Where: $location\n\n$description\n\n-- \nSent for $organizer by the calendar of $site.\n"),
    "cancel": ("$organizer cancelled: $summary\n\nWhen:  $when\nWhere: $location\n\n"
               "-- \nSent for $organizer by the calendar of $site.\n"),
    "reply": ("$attendee_name $answer: $summary\n\nWhen:  $when\nWhere: $location\n\n"
              "-- \nSent for $attendee_name by the calendar of $site.\n"),
}


def _template_name(method: str, reason: str) -> str:
    if method == "REPLY":
        return "reply"
    if method == "CANCEL":
        return "cancel"
    return "request" if reason == "new attendee" else "update"


def _render(templates_dir: Path | None, name: str, suffix: str, fields: dict[str, str]) -> str | None:
    text = None
    if templates_dir is not None:
        path = templates_dir / f"{name}.{suffix}"
        if path.is_file():
            text = path.read_text(encoding="utf-8")
    if text is None:
        if suffix != "txt":
            return None
        text = DEFAULT_TEXT[name]
    if suffix == "html":
        fields = {k: html.escape(v) for k, v in fields.items()}
    return string.Template(text).safe_substitute(fields)


def _method_of(calendar_text: str) -> str | None:
    for line in calendar_text.split("\n"):
        if line.upper().startswith("METHOD:"):
            return line[len("METHOD:"):].strip().upper()
        if line.startswith("BEGIN:V") and not line.startswith("BEGIN:VCALENDAR"):
            break
    return None


def build_message(envelope: Envelope, calendar_text: str, *, now: dt.datetime,
                  templates_dir: Path | None = None, display: dict[str, str] | None = None) -> Message:
    """The mail for one job. `display` (stored with the job) saves parsing the calendar again."""
    method = _method_of(calendar_text)
    if method != envelope.method:
        raise ValueError(f"job {envelope.job_id}: METHOD {method} differs from the job's {envelope.method}")
    if display is None:
        display = display_fields(events(icalendar.Calendar.from_ical(calendar_text)))
    fields = _fields(envelope, display)
    name = _template_name(method, envelope.reason)

    # The email.mime classes (compat32): the same structure as EmailMessage builds, at a third
    # of the cost per message when a queue of thousands drains.
    msg = MIMEMultipart("mixed")
    if method == "REPLY":
        # The local user's own answer: from their address, to the organizer, no token.
        msg["From"] = from_header(fields["attendee_name"], envelope.from_address)
        msg["To"] = to_header(envelope.organizer_address)
    else:
        sender_name = f"{envelope.organizer_name or envelope.organizer_address} (via {envelope.site_name})"
        msg["From"] = from_header(sender_name, envelope.from_address)
        msg["To"] = to_header(strip_mailto(envelope.attendee))
        msg["Reply-To"] = envelope.token_address
    msg["Subject"] = Header(subject_for(method, envelope.reason, fields["summary"], display.get("answer", "")),
                            "utf-8")
    msg["Date"] = format_datetime(now.astimezone(dt.timezone.utc))
    msg["Message-ID"] = envelope.message_id
    if method != "REPLY":
        msg["Auto-Submitted"] = "auto-generated"  # a REPLY is the user's own answer, not generated
    msg[LOOP_HEADER] = clean_header_text(envelope.instance_id)

    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText(_render(templates_dir, name, "txt", fields), "plain", "utf-8"))
    html_text = _render(templates_dir, name, "html", fields)
    if html_text is not None:
        alternative.attach(MIMEText(html_text, "html", "utf-8"))
    # CRLF line ends inside the calendar, whatever produced it (RFC 5545 §3.1).
    ics = calendar_text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    calendar_part = MIMEBase("text", "calendar", charset="UTF-8", method=method)
    calendar_part.set_payload(ics)
    encoders.encode_base64(calendar_part)
    alternative.attach(calendar_part)
    msg.attach(alternative)

    attachment = MIMEBase("application", "ics", name="invite.ics")
    attachment.set_payload(ics)
    encoders.encode_base64(attachment)
    attachment.add_header("Content-Disposition", "attachment", filename="invite.ics")
    msg.attach(attachment)
    return msg
