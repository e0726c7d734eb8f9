# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The organizer's steps (roundtrip/organizer.py) over CalDAV error paths (a fake opener: a refused login and a
server that never answers cannot be produced on demand)."""

from __future__ import annotations

import socket
from urllib.error import HTTPError, URLError

from ansible_collections.imip.server.plugins.module_utils.roundtrip import caldav, organizer

from .common import PASSWORD


class FakeOpener(object):
    """open_url's error paths: each call raises the next error."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = []

    def __call__(self, url, **kwargs):
        self.calls.append((kwargs["method"], url, kwargs["url_password"]))
        raise self.errors.pop(0)


def http_error(code, reason):
    return HTTPError("https://cal.example.test/", code, reason, {}, None)


def test_a_refused_organizer_login_is_a_failure_naming_the_variable():
    opener = FakeOpener(http_error(401, "Unauthorized"))
    dav = caldav.CalDav("https://cal.example.test/", "alice@example.test", PASSWORD, opener=opener)
    made = organizer.invite(dav, "alice@example.test", "attendee@external.test", "imip-status-check", retries=2)
    (check,) = made["checks"]
    assert (check["id"], check["status"]) == ("roundtrip.invitation", "fail")
    assert "answered 401 Unauthorized" in check["message"]
    assert "imip_check_roundtrip_organizer_password" in check["fix"][0]
    assert len(opener.calls) == 1  # a refusal is not retried
    assert made["href"] is None
    assert PASSWORD not in repr(made)


def test_a_server_that_never_answers_is_retried_then_unknown():
    opener = FakeOpener(*[URLError(socket.timeout("timed out")) for dummy in range(3)])
    dav = caldav.CalDav("https://cal.example.test/", "alice@example.test", PASSWORD, opener=opener)
    made = organizer.invite(dav, "alice@example.test", "attendee@external.test", "imip-status-check", retries=2)
    (check,) = made["checks"]
    assert check["status"] == "unknown"
    assert [c[0] for c in opener.calls] == ["MKCALENDAR"] * 3


def test_the_finish_step_deletes_even_when_reading_fails():
    class Dav(object):
        deleted = []

        def delete(self, path):
            self.deleted.append(path)
            return True

    made = {"href": "alice@example.test/c/u1.ics", "calendar": "alice@example.test/c/", "created_calendar": True}
    removal = organizer.remove_test_event(Dav(), made, 2)
    assert (removal["deleted"], removal["error"]) == (True, "")
    assert Dav.deleted == ["alice@example.test/c/u1.ics", "alice@example.test/c/"]
