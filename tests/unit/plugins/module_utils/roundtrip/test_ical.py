# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The round trip's iCalendar text (roundtrip/ical.py): folded and quoted lines, PARTSTAT, the masked token."""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils.roundtrip import ical

from .common import TOKEN_ADDRESS, itip


def test_unfold_and_properties_read_a_folded_quoted_line():
    props = ical.properties(itip("u1").get_body(("calendar",)).get_content())
    assert ical.value_of(props, "ORGANIZER") == "mailto:" + TOKEN_ADDRESS
    assert dict((n, p) for n, p, v in props)["ORGANIZER"] == {"CN": "Alice: planner", "EMAIL": "alice@example.test"}


def test_partstat_of_the_attendee():
    text = ical.event("u1", "alice@example.test", "Attendee@External.test", 0)
    assert ical.partstat(text, "attendee@external.test") == "NEEDS-ACTION"
    assert ical.partstat(text.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED"), "attendee@external.test") == "ACCEPTED"
    assert ical.partstat(text, "bob@external.test") is None


def test_mask_token():
    assert ical.mask_token(TOKEN_ADDRESS) == "calendar-invites+\u2026@example.test"
