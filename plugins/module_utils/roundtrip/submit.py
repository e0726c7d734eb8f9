# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The attendee's answer, composed and sent (private to imip.server; the round trip's attendee steps).

reply() writes the ACCEPTED iTIP REPLY a calendar client would; send() hands it to the vantage
host's own MTA, submitter() to a provider's submission server (TLS or STARTTLS, then AUTH).
"""

from __future__ import annotations

import smtplib
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid

from ansible_collections.imip.server.plugins.module_utils._names import strip_mailto
from ansible_collections.imip.server.plugins.module_utils.roundtrip.ical import properties, stamp, value_of
from ansible_collections.imip.server.plugins.module_utils.roundtrip.mailbox import tls_context


def submitter(user, password, ca_file=None, server_name=None):
    """A sender (as send()) through a provider's submission server: port 465 with TLS from the
    start, any other port with STARTTLS; then AUTH as the mailbox's user, as a mail client does."""
    def submit(msg, sender, recipient, host, port, timeout):
        context = tls_context(ca_file)
        if int(port) == 465:
            client = _smtp_connect(smtplib.SMTP_SSL(timeout=timeout, context=context), host, port, server_name)
        else:
            client = _smtp_connect(smtplib.SMTP(timeout=timeout), host, port, server_name)
            client.starttls(context=context)
        with client:
            client.login(user, password)
            client.sendmail(sender, [recipient], msg.as_bytes())
    return submit


def _smtp_connect(client, host, port, server_name=None):
    """Connect an unconnected smtplib client; its certificate is checked against server_name (the
    host may be an address). smtplib passes `_host` as the TLS server name, both for SMTP_SSL and
    for STARTTLS, and sets it only in __init__."""
    client._host = server_name or host  # pylint: disable=protected-access
    client.connect(host, port)
    return client


def reply(request_text, request_message, attendee, answer="ACCEPTED"):  # pylint: disable=too-many-locals
    """(token address, MIME message) answering an iTIP REQUEST as a calendar client does."""
    props = properties(request_text)
    organizer = value_of(props, "ORGANIZER") or ""
    # RFC 6047 clients answer to the ORGANIZER (the gateway puts its token address there).
    to = strip_mailto(organizer) or str(request_message.get("Reply-To") or "").strip().strip("<>")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//imip.server//status check//EN", "METHOD:REPLY",
             "BEGIN:VEVENT", "UID:%s" % value_of(props, "UID"), "DTSTAMP:%s" % stamp(),
             "SEQUENCE:%s" % (value_of(props, "SEQUENCE") or "0")]
    for name in ("DTSTART", "DTEND", "SUMMARY"):
        for prop, params, value in props:
            if prop == name:
                lines.append("%s%s:%s" % (name, "".join(";%s=%s" % kv for kv in params.items()), value))
    lines += ["ORGANIZER:%s" % organizer, "ATTENDEE;PARTSTAT=%s:mailto:%s" % (answer, attendee), "END:VEVENT", "END:VCALENDAR"]
    calendar = "\r\n".join(lines) + "\r\n"
    msg = MIMEMultipart("alternative")
    msg["From"] = attendee
    msg["To"] = to
    msg["Subject"] = "%s: %s" % (answer.capitalize(), value_of(props, "SUMMARY") or "invitation")
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=attendee.split("@", 1)[1])
    msg.attach(MIMEText("%s has %s the invitation.\n" % (attendee, answer.lower()), "plain", "utf-8"))
    part = MIMEText(calendar, "calendar", "utf-8")
    part.set_param("method", "REPLY")
    msg.attach(part)
    return to, msg


def send(msg, sender, recipient, host, port, timeout):
    """Hand the message to an MTA (the vantage host's own, which looks up our MX)."""
    with smtplib.SMTP(host, port, timeout=timeout) as client:
        client.sendmail(sender, [recipient], msg.as_bytes())
