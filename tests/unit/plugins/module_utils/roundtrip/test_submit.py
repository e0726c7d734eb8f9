# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The attendee's reply (roundtrip/submit.py): an iTIP REPLY to the organizer's token address."""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils.roundtrip import ical, submit

from .common import TOKEN_ADDRESS, itip


def test_the_reply_goes_to_the_organizer_token_address_with_the_attendee_accepted():
    request = itip("u1")
    to, msg = submit.reply(request.get_body(("calendar",)).get_content(), request, "attendee@external.test")
    assert to == TOKEN_ADDRESS
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REPLY"
    text = part.get_payload(decode=True).decode()
    assert ical.method(text) == "REPLY"
    assert ical.partstat(text, "attendee@external.test") == "ACCEPTED"
    assert ical.value_of(ical.properties(text), "UID") == "u1"
