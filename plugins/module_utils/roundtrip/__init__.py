# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The invitation round trip of the status report (private to imip.server; the modules
roundtrip_organizer and roundtrip_attendee).

ical (iCalendar as text: the test event, properties, PARTSTAT), caldav (the organizer's CalDAV
client and its retries), mailbox (the attendee's Maildir or IMAP INBOX), submit (the ACCEPTED
reply composed and sent through an MTA or a submission server), verdict (the attendee's
provider's Authentication-Results), steps (check ids, report lines, waiting), organizer (invite,
await_reply, remove_test_event: the calendar host's steps), attendee (answer, cleanup: the
vantage host's steps). Not a public API: the modules of imip.server are.
"""
