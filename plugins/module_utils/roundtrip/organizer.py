# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The organizer's steps of the round trip, on the calendar host (private to imip.server; the
module roundtrip_organizer).

invite(): the organizer's calendar application saves an event with the external attendee;
await_reply(): the attendee's ACCEPTED shows on that event; remove_test_event(): the event (and
the round trip's own calendar) deleted, so the gateway mails a CANCEL. All over CalDAV
(caldav.py), every failure a line of the report.
"""

from __future__ import annotations

import os
import time

from urllib.parse import quote

from ansible_collections.imip.server.plugins.module_utils.roundtrip.caldav import CalDavError, with_retries
from ansible_collections.imip.server.plugins.module_utils.roundtrip.ical import event, partstat, stamp
from ansible_collections.imip.server.plugins.module_utils.roundtrip.steps import GATEWAY_FIX, INVITATION, REPLY, UID_SUFFIX, line, wait_for
from ansible_collections.imip.server.plugins.module_utils.status import checks as sc


CALENDAR_NAME = "imip.server status check"
# The round trip's own calendar, removed at the end (another calendar only when the round trip made it).
DEFAULT_CALENDAR = "imip-status-check"


def _dav_failure(check_id, what, exc, organizer):
    """A CalDAV error as a check: no answer after retries is "?", a refusal is ✖."""
    if exc.timeout or exc.status is None:
        return line(check_id, sc.UNKNOWN, "could not determine: %s: %s" % (what, exc),
                    fix=["is the calendar server (radicale) running and its port reachable from the calendar host?"])
    fix = ["check the calendar server's log: `journalctl -u radicale`"]
    if exc.status in (401, 403):
        fix = ["%s's CalDAV login was refused: set imip_check_roundtrip_organizer_password to that user's "
               "password (imip_mail_users), or run site.yml if Dovecot's account is out of date" % organizer] + fix
    return line(check_id, sc.FAIL, "%s failed: %s" % (what, exc),
                "the organizer %s can write to their own calendars over CalDAV" % organizer, fix)


def invite(dav, organizer, attendee, calendar, retries, uid=None, start_epoch=None, clock=time.time):
    """The organizer's calendar application creates an event with the external attendee."""
    uid = uid or "%s-%s%s" % (stamp(), os.urandom(6).hex(), UID_SUFFIX)
    calendar_path = "%s/%s/" % (organizer, calendar)
    href = calendar_path + uid + ".ics"
    start = start_epoch if start_epoch is not None else int(clock() // 3600 + 25) * 3600  # tomorrow, on the hour
    result = {"uid": uid, "href": None, "calendar": calendar_path, "created_calendar": False, "checks": [],
              "stale_removed": 0}
    try:
        result["created_calendar"] = with_retries(lambda: dav.ensure_calendar(calendar_path, CALENDAR_NAME), retries)
        # Events of an earlier round trip that was interrupted (their CANCEL goes out now).
        for stale in with_retries(lambda: dav.members(calendar_path), retries):
            if stale.endswith(UID_SUFFIX + ".ics"):
                with_retries(lambda: dav.delete(quote(stale)), retries)  # pylint: disable=cell-var-from-loop
                result["stale_removed"] += 1
        with_retries(lambda: dav.put_new(href, event(uid, organizer, attendee, start)), retries)
    except CalDavError as exc:
        result["checks"].append(_dav_failure(INVITATION, "the organizer's PUT of the test event", exc, organizer))
        return result
    result["href"] = href
    result["put_at"] = clock()
    return result


def await_reply(dav, href, organizer, attendee, timeout, retries, wait=None, since=None):
    """The organizer's event shows the attendee's PARTSTAT=ACCEPTED (read over CalDAV):
    (check, the time it was seen or None). since: when the reply was sent (epoch)."""
    wait = wait or wait_for
    seen = {"partstat": None, "error": None}

    def accepted():
        try:
            seen["partstat"] = partstat(with_retries(lambda: dav.get(href), retries), attendee)
            seen["error"] = None
        except CalDavError as exc:
            seen["error"] = exc
            return False
        return seen["partstat"] == "ACCEPTED"

    done, seconds = wait(accepted, timeout)
    if done and since:
        seconds = max(time.time() - since, 0.0)
    if done:
        return line(REPLY, sc.OK, "%s's ACCEPTED reply shows on %s's event (PARTSTAT=ACCEPTED) %.1f s after it was sent"
                    % (attendee, organizer, seconds)), time.time()
    if seen["error"] is not None:
        return _dav_failure(REPLY, "reading the organizer's event", seen["error"], organizer), None
    return line(
        REPLY, sc.FAIL, "%s's event still shows PARTSTAT=%s for %s %d s after the reply was sent"
        % (organizer, seen["partstat"] or "(no such attendee)", attendee, timeout),
        "the gateway reads the reply over IMAP and writes PARTSTAT=ACCEPTED on the organizer's event",
        [GATEWAY_FIX + " (inbound: the last IMAP login, rejected replies and why)",
         "on the mail host: `postqueue -p` and `journalctl -u postgrey` (a greylisted reply waits; the invitation "
         "address must be whitelisted)",
         "on the vantage host: `postqueue -p` (a reply it could not deliver to the MX)"]), None


def remove_test_event(dav, invited, retries):
    """Delete the test event (the gateway then mails a CANCEL) and the calendar if we made it."""
    out = {"deleted": False, "error": ""}
    try:
        if invited.get("href"):
            with_retries(lambda: dav.delete(invited["href"]), retries)
            out["deleted"] = True
            out["deleted_at"] = time.time()
        own = invited.get("calendar", "").rstrip("/").endswith("/" + DEFAULT_CALENDAR)
        if invited.get("created_calendar") or (own and invited.get("href")):
            with_retries(lambda: dav.delete(invited["calendar"]), retries)
    except CalDavError as exc:
        out["error"] = str(exc)
    return out
