# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The round trip's iCalendar, handled as text (private to imip.server).

Unfolded content lines (RFC 5545 3.1), the properties of a component, METHOD and an attendee's
PARTSTAT; the test event as a calendar client writes it. The hosts have no iCalendar library,
and the round trip needs only a few properties.
"""

from __future__ import annotations

import re
import time

from ansible_collections.imip.server.plugins.module_utils._names import strip_mailto


def unfold(text):
    """Content lines (RFC 5545 3.1): CRLF or LF, a leading space or tab continues the line."""
    return re.sub(r"\r?\n[ \t]", "", text).splitlines()


def stamp(epoch=None):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if epoch is None else epoch))


# The test event's SUMMARY: the gateway's Subject carries it, which is how a search finds the
# round trip's messages in a large mailbox (ImapBox).
SUMMARY = "imip.server status check"


def event(uid, organizer, attendee, start_epoch, summary=SUMMARY):
    """A VEVENT as a calendar client writes it: one hour, the organizer inviting one attendee."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//imip.server//status check//EN", "BEGIN:VEVENT",
             "UID:%s" % uid, "DTSTAMP:%s" % stamp(), "DTSTART:%s" % stamp(start_epoch),
             "DTEND:%s" % stamp(start_epoch + 3600), "SEQUENCE:0", "SUMMARY:%s" % summary,
             "ORGANIZER;CN=imip.server status check:mailto:%s" % organizer,
             "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;ROLE=REQ-PARTICIPANT:mailto:%s" % attendee,
             "END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def _params(line):
    """(name, {param: value}, value) of one content line."""
    head, dummy, value = line.partition(":")
    while head.count('"') % 2:  # a quoted parameter value holding ':'
        more, dummy, value = value.partition(":")
        head += ":" + more
    parts = head.split(";")
    params = {}
    for part in parts[1:]:
        key, dummy, val = part.partition("=")
        params[key.upper()] = val.strip('"')
    return parts[0].upper(), params, value


def properties(text, component="VEVENT"):
    """[(name, params, value)] of the first component of that type."""
    out, inside = [], False
    for line in unfold(text):
        if line.upper() == "BEGIN:%s" % component:
            inside = True
        elif line.upper() == "END:%s" % component and inside:
            break
        elif inside:
            out.append(_params(line))
    return out


def method(text):
    for line in unfold(text):
        if line.upper().startswith("METHOD:"):
            return line.split(":", 1)[1].strip().upper()
    return None


def partstat(text, attendee):
    """The PARTSTAT of that attendee on the event (None when the attendee is not on it)."""
    for name, params, value in properties(text):
        if name == "ATTENDEE" and strip_mailto(value).lower() == attendee.lower():
            return params.get("PARTSTAT", "NEEDS-ACTION").upper()
    return None


def value_of(props, name):
    for prop, dummy, value in props:
        if prop == name:
            return value
    return None


def mask_token(address):
    """calendar-invites+3f0c...@example.test -> calendar-invites+…@example.test"""
    return re.sub(r"\+[^@]+@", "+\u2026@", address or "")
