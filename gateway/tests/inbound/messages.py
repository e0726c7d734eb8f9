"""CONSTRUCTED test messages: each reproduces one real client's shape (docs/gateway.md lists the
shapes; the optional corpus of real messages read by test_corpus.py names the message behind each). Written here from
scratch with example.test / external.test addresses; no real message is copied.
"""

from __future__ import annotations

import base64
import quopri
import textwrap

ORGANIZER = "mailto:alice@example.test"
ATTENDEE = "bob@external.test"
INVITE = "calendar-invites@example.test"


def token_address(token: str) -> str:
    local, domain = INVITE.split("@")
    return f"{local}+{token}@{domain}"


# Europe/Berlin as Thunderbird writes it into the events it stores.
BERLIN = """BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
TZNAME:CEST\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
TZNAME:CET\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r
END:STANDARD\r
END:VTIMEZONE\r
"""
# The same zone as Outlook names it in a reply (a Windows zone name, its own VTIMEZONE).
OUTLOOK_BERLIN = BERLIN.replace("TZID:Europe/Berlin", "TZID:W. Europe Standard Time").replace(
    "19700329T020000", "16010101T020000").replace("19701025T030000", "16010101T030000")


def event(uid: str, *, attendees=(ATTENDEE, "carol@external.test"), sequence: int | None = 0,
          rrule: str | None = None, organizer: str = ORGANIZER, start="20300105T100000Z",
          end="20300105T110000Z", extra_vevents: str = "", tzid: str | None = None,
          series: tuple[str, ...] = ()) -> str:
    """The organizer's stored event (what Radicale holds), CRLF. `tzid`: DTSTART/DTEND are
    local times of that zone (Europe/Berlin gets its VTIMEZONE); `series`: further
    lines such as RDATE or EXDATE."""
    zone = f";TZID={tzid}" if tzid else ""
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//imip.server tests//constructed//EN",
        *([BERLIN.rstrip("\r\n")] if tzid == "Europe/Berlin" else []),
        "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20291201T090000Z", f"DTSTART{zone}:{start}", f"DTEND{zone}:{end}",
        "SUMMARY:Planning", f"ORGANIZER;CN=Alice:{organizer}",
        f"ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED;ROLE=CHAIR:{organizer}",
    ]
    if sequence is not None:
        lines.append(f"SEQUENCE:{sequence}")
    if rrule:
        lines.append(f"RRULE:{rrule}")
    lines.extend(series)
    for att in attendees:
        lines.append(f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;ROLE=REQ-PARTICIPANT:mailto:{att}")
    lines.append("END:VEVENT")
    text = "\r\n".join(lines) + "\r\n" + extra_vevents
    return text + "END:VCALENDAR\r\n"


def reply_ics(uid: str, *, partstat="ACCEPTED", attendee=ATTENDEE, organizer: str | None = None,
              sequence: int | None = 0, dtstamp="20291202T100000Z", method="REPLY",
              recurrence_id: str | None = None, valarm_attendee: str | None = None,
              valarm: bool = False, comment: str | None = None, private_comment: str | None = None,
              attendee_params: str = "", extra: str = "", nl="\r\n", mailto="mailto:",
              vtimezone: str = "") -> str:
    """A reply; `recurrence_id` is the value, or a whole `;TZID=…:value` tail when it starts with ';'."""
    lines = ["BEGIN:VCALENDAR", "PRODID:-//constructed//reply//EN", "VERSION:2.0"]
    if method:
        lines.append(f"METHOD:{method}")
    if vtimezone:
        lines.extend(vtimezone.strip().splitlines())
    lines += ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{dtstamp}",
              "DTSTART:20300105T100000Z", "DTEND:20300105T110000Z", "SUMMARY:Planning"]
    if recurrence_id:
        lines.append(f"RECURRENCE-ID{recurrence_id}" if recurrence_id.startswith(";")
                     else f"RECURRENCE-ID:{recurrence_id}")
    if organizer:
        lines.append(f"ORGANIZER;CN=Alice:{organizer}")
    if sequence is not None:
        lines.append(f"SEQUENCE:{sequence}")
    lines.append(f"ATTENDEE;PARTSTAT={partstat}{attendee_params}:{mailto}{attendee}")
    if comment is not None:
        lines.append(f"COMMENT:{comment}")
    if private_comment is not None:
        lines.append(f"X-CALENDARSERVER-PRIVATE-COMMENT:{private_comment}")
    if extra:
        lines.extend(extra.strip().splitlines())
    if valarm or valarm_attendee:
        lines += ["BEGIN:VALARM", "ACTION:EMAIL" if valarm_attendee else "ACTION:DISPLAY",
                  "DESCRIPTION:This is an event reminder", "TRIGGER:-P0DT0H10M0S"]
        if valarm_attendee:
            lines.append(f"ATTENDEE:mailto:{valarm_attendee}")
        lines.append("END:VALARM")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return nl.join(lines) + nl


def _b64(data: bytes, nl="\r\n") -> str:
    return nl.join(textwrap.wrap(base64.b64encode(data).decode("ascii"), 76))


def _qp(text: str) -> str:
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


# What our MTA writes on a reply from the attendee's provider: a DKIM signature for its domain
# verified (the gateway's default policy, require_dkim_or_spf, asks for one aligned pass).
OUR_VERDICT = "cal.example.test; dkim=pass header.d=external.test header.s=mail; spf=none smtp.mailfrom=external.test"


def headers(token: str | None, *, subject="Accepted: Planning", sender=f"Bob <{ATTENDEE}>",
            message_id="<constructed-1@external.test>", to: str | None = None, extra: str = "",
            original_to: bool = True, date="Sun, 02 Dec 2029 10:00:00 +0000", auth: str | None = OUR_VERDICT) -> str:
    lines = [f"Authentication-Results: {auth}"] if auth else []
    if token and original_to:
        lines.append(f"X-Original-To: {token_address(token)}")
    lines += [f"From: {sender}", f"To: {to or (token_address(token) if token else INVITE)}",
              f"Subject: {subject}", f"Date: {date}", f"Message-ID: {message_id}", "MIME-Version: 1.0"]
    if extra:
        lines.extend(extra.strip().splitlines())
    return "\r\n".join(lines) + "\r\n"


def google(token, ics, **kw) -> bytes:
    """Google Calendar: mixed[alternative[plain b64, html qp, text/calendar 7bit], application/ics b64]."""
    return (headers(token, extra="Auto-Submitted: auto-generated\r\nSender: Google Calendar <calendar-notification@google.test>",
                    **kw) +
            'Content-Type: multipart/mixed; boundary="mix"\r\n\r\n'
            '--mix\r\nContent-Type: multipart/alternative; boundary="alt"\r\n\r\n'
            '--alt\r\nContent-Type: text/plain; charset=windows-1252; format=flowed; delsp=yes\r\n'
            'Content-Transfer-Encoding: base64\r\n\r\n' + _b64(b"Bob has accepted this invitation.\r\n") + "\r\n"
            '--alt\r\nContent-Type: text/html; charset=windows-1252\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
            '<div style=3D"">Bob has accepted.</div>\r\n'
            '--alt\r\nContent-Type: text/calendar; charset=UTF-8; method=REPLY\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'
            + ics + "\r\n--alt--\r\n"
            '--mix\r\nContent-Type: application/ics; name="invite.ics"\r\nContent-Disposition: attachment; filename="invite.ics"\r\n'
            'Content-Transfer-Encoding: base64\r\n\r\n' + _b64(ics.encode()) + "\r\n--mix--\r\n").encode()


def google_qp_lf(token, ics, **kw) -> bytes:
    """Google Agenda (2012): the whole message in bare LF, calendar quoted-printable."""
    raw = google(token, "", **kw).decode()
    body = ('--alt\r\nContent-Type: text/calendar; charset=UTF-8; method=REPLY\r\n'
            'Content-Transfer-Encoding: quoted-printable\r\n\r\n' + _qp(ics.replace("\r\n", "\n")) + "\r\n--alt--\r\n")
    head = raw.partition('--alt\r\nContent-Type: text/calendar')[0]
    return (head + body + '--mix--\r\n').replace("\r\n", "\n").encode()


def outlook_mac(token, ics, **kw) -> bytes:
    """Outlook for Mac: alternative[html qp, text/calendar;method=REPLY;<CRLF TAB>charset="US-ASCII"]."""
    return (headers(token, extra="User-Agent: Microsoft-MacOutlook/14.2.1", **kw) +
            'Content-type: multipart/alternative;\r\n\tboundary="B_342"\r\n\r\n'
            '> This message is in MIME format.\r\n\r\n'
            '--B_342\r\nContent-type: text/html;\r\n\tcharset="UTF-8"\r\nContent-transfer-encoding: quoted-printable\r\n\r\n'
            '<html><body>Je viens</body></html>\r\n\r\n'
            '--B_342\r\nContent-Type: text/calendar;method=REPLY;\r\n\tcharset="US-ASCII";name="meeting.ics"\r\n'
            'Content-transfer-encoding: 7bit\r\n\r\n' + ics + "\r\n--B_342--\r\n").encode()


def ios(token, ics, **kw) -> bytes:
    """iOS: TAB-separated Content-Type parameters, calendar quoted-printable with soft breaks."""
    return (headers(token, sender=ATTENDEE, **kw) +
            'Content-Type: multipart/alternative; boundary="ios"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'
            '--ios\r\nContent-Type: text/plain;\tcharset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\nAnnotation\r\n\r\n'
            '--ios\r\nContent-Type: text/calendar;\tcharset=utf-8;\tname=meeting.ics;\tmethod=REPLY\r\n'
            'Content-Transfer-Encoding: quoted-printable\r\n\r\n' + _qp(ics) + "\r\n--ios--\r\n").encode()


def android(token, ics, **kw) -> bytes:
    """Android Email: text/calendar without charset, base64, continuation lines with a TAB."""
    ics = ics.replace("ATTENDEE;", "ATTENDEE;ROLE=REQ-PARTICIPANT;\r\n\t", 1)
    return (headers(token, **kw) +
            'Content-Type: multipart/alternative; boundary="and"\r\n\r\n'
            '--and\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + _b64("Réunion acceptée".encode()) + "\r\n\r\n"
            '--and\r\nContent-Type: text/calendar; method=REPLY; name="invite.ics"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + _b64(ics.encode()) + "\r\n\r\n--and--\r\n").encode()


def mapi(token, ics, **kw) -> bytes:
    """Outlook via a MAPI connector: multipart/related, 8-bit UTF-8 without a CTE header,
    calendar as attachment (no ORGANIZER/SEQUENCE in `ics` is the caller's choice)."""
    return (headers(token, extra="X-Mapi-Version: 4.1", **kw) +
            'Content-Type: multipart/related;\r\n boundary="-=Part.13=-"\r\n\r\n'
            '---=Part.13=-\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<div>Je teste les réponses</div>\r\n'
            '---=Part.13=-\r\nContent-Type: text/calendar; charset=UTF-8; method=REPLY\r\n'
            'Content-Disposition: attachment; filename=reply.ics\r\n\r\n' + ics + "\r\n---=Part.13=---\r\n").encode("utf-8")


def exchange(token, ics, **kw) -> bytes:
    """Exchange: the message in LF, base64 calendar whose decoded text uses CRLF."""
    return (headers(token, extra="X-MS-TNEF-Correlator:\r\nX-MS-Has-Attach:", **kw) +
            'Content-Type: multipart/alternative;\r\n\tboundary="_000_x_"\r\n\r\n'
            '--_000_x_\r\nContent-Type: text/plain; charset="iso-8859-1"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nno, sorry\r\n\r\n'
            '--_000_x_\r\nContent-Type: text/calendar; charset="utf-8"; method=REPLY\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + _b64(ics.encode(), "\n") + "\r\n\r\n--_000_x_--\r\n").replace("\r\n", "\n").encode()


def ical3(token, ics, **kw) -> bytes:
    """Apple Mail + iCal 3: alternative[plain, mixed[html, text/calendar (no method, no charset,
    QP with encoded CRLF)]]."""
    encoded = _qp(ics.replace("\r\n", "\n")).replace("\n", "=0D=0A=\n")
    return (headers(token, extra="X-Mail-Calendar-Part: Yes", **kw) +
            'Content-type: multipart/alternative; boundary=M1\r\n\r\n'
            '--M1\r\nContent-Type: text/plain;\r\n\tcharset=US-ASCII;\r\n\tformat=flowed\r\n\r\naccepted\r\n'
            '--M1\r\nContent-Type: multipart/mixed;\r\n\tboundary=M2\r\n\r\n'
            '--M2\r\nContent-Type: text/html;\r\n\tcharset=US-ASCII\r\n\r\n<html></html>\r\n'
            '--M2\r\nContent-Disposition: attachment;\r\n\tfilename=iCal-1.ics\r\n'
            'Content-Type: text/calendar;\r\n\tx-unix-mode=0644;\r\n\tname="iCal-1.ics"\r\n'
            'Content-Transfer-Encoding: quoted-printable\r\n\r\n' + encoded + "\r\n--M2--\r\n\r\n--M1--\r\n").encode()


def signed(token, ics, **kw) -> bytes:
    """S/MIME: multipart/signed around mixed[plain, text/calendar QP], then the signature."""
    return (headers(token, **kw) +
            'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="sig"\r\n\r\n'
            'This is a cryptographically signed message in MIME format.\r\n\r\n'
            '--sig\r\nContent-Type: multipart/mixed; boundary="inner"\r\n\r\n'
            '--inner\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nAccepted.\r\n'
            '--inner\r\nContent-Type: text/calendar; charset=UTF-8; method=REPLY\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
            + _qp(ics) + "\r\n--inner--\r\n\r\n"
            '--sig\r\nContent-Type: application/pkcs7-signature; name="smime.p7s"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + _b64(b"\x30\x82 not a real signature") + "\r\n\r\n--sig--\r\n").encode()


def single_part(token, ics, *, method_param: str | None = "REPLY", **kw) -> bytes:
    """Outlook 2010 style: the whole message is one text/calendar part, 8bit."""
    param = f"; method={method_param}" if method_param else ""
    return (headers(token, **kw) + f'Content-Type: text/calendar{param}; charset="UTF-8"\r\n'
            "Content-Transfer-Encoding: 8bit\r\n\r\n" + ics).encode("utf-8")


def plain(token, text="Re: Planning\r\n\r\nCan we make it 11?\r\n", **kw) -> bytes:
    return (headers(token, subject="Re: Planning", **kw) +
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text).encode()


def bounce(token, uid, *, to_outer: str | None = None, final="bob@external.test") -> bytes:
    """A Postfix-style DSN of our own invitation (the returned message carries the token)."""
    request = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20291201T090000Z\r\nDTSTART:20300105T100000Z\r\n"
        f"ORGANIZER;CN=Alice;EMAIL=alice@example.test:mailto:{token_address(token)}\r\n"
        f"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:{final}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    return (
        "From: MAILER-DAEMON@mx.external.test (Mail Delivery System)\r\n"
        f"To: {to_outer or INVITE}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Date: Sun, 02 Dec 2029 10:00:00 +0000\r\nMessage-ID: <dsn-1@mx.external.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.external.test\r\n\r\n"
        f"Final-Recipient: rfc822; {final}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--R\r\nContent-Type: message/rfc822\r\n\r\n"
        f"From: Alice (via Example) <{INVITE}>\r\nReply-To: {token_address(token)}\r\nTo: {final}\r\n"
        "Subject: Invitation: Planning\r\nX-IMIP-Gateway: cal.example.test\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/calendar; charset=utf-8\r\n\r\n" + request + "\r\n--R--\r\n").encode()


SHAPES = {
    "google": google,
    "google-qp-lf": google_qp_lf,
    "outlook-mac": outlook_mac,
    "ios": ios,
    "android": android,
    "mapi": mapi,
    "exchange": exchange,
    "ical3-no-method-param": ical3,
    "smime-signed": signed,
    "single-part-8bit": single_part,
}


def attachment_part(boundary: str, octets: int, name: str = "minutes.pdf") -> bytes:
    """One base64 attachment of `octets` random-looking octets (repeated pattern: cheap to build)."""
    chunk = bytes(range(256)) * 3  # 768 octets: base64 lines of 76 characters without padding
    data = (chunk * (octets // len(chunk) + 1))[:octets]
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (f'--{boundary}\r\nContent-Type: application/pdf; name="{name}"\r\n'
            f'Content-Disposition: attachment; filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            ).encode() + encoded + b"\r\n"


def google_with_attachment(token, ics, octets: int, **kw) -> bytes:
    """A Google-shaped reply that also carries an attachment of `octets` octets (before base64)."""
    raw = google(token, ics, **kw)
    end = raw.rindex(b"--mix--")
    return raw[:end] + attachment_part("mix", octets) + raw[end:]
