# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the round trip's tests share: an iTIP message as the gateway mails it, a real Maildir to deliver it to, and
waiting without sleeping."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage


TOKEN_ADDRESS = "calendar-invites+0f3c9a1e-2b7d-4f61-9a55-1c2d3e4f5a6b@example.test"
PASSWORD = "organizer-secret-do-not-print"


def itip(uid, method="REQUEST", organizer=TOKEN_ADDRESS, verdict="ext.external.test; dkim=pass header.d=example.test; spf=pass"):
    """An iTIP message as the gateway mails it (folded ORGANIZER line with CN and EMAIL), with the
    Authentication-Results the attendee's provider adds on arrival."""
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:%s\r\nBEGIN:VEVENT\r\nUID:%s\r\nSEQUENCE:0\r\n"
            "DTSTART:20261201T100000Z\r\nDTEND:20261201T110000Z\r\nSUMMARY:Planning\r\n"
            "ORGANIZER;CN=\"Alice: planner\";EMAIL=alice@example.test:mailto:\r\n %s\r\n"
            "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:attendee@external.test\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n") % (method, uid, organizer)
    msg = EmailMessage()
    if verdict:
        msg["Authentication-Results"] = verdict
    msg["From"] = "Alice <calendar-invites@example.test>"
    msg["To"] = "attendee@external.test"
    msg["Subject"] = "Invitation: Planning"
    msg.set_content("You are invited.\n")
    msg.add_alternative(text, subtype="calendar", params={"method": method})
    return msg


def deliver(maildir, msg):
    box = mailbox.Maildir(str(maildir), create=True)
    return box.add(msg)


def no_wait(probe, timeout):
    """wait_for without sleeping: one look (a timeout when nothing is there yet)."""
    result = probe()
    return result, 0.0 if result else timeout
