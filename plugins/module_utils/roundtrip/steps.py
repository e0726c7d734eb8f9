# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the round trip's steps share (private to imip.server): the check ids, one line of the
report, the round trip's UID suffix and waiting.

check.yml runs the steps in four plays, alternating between the calendar host (the organizer's
side: organizer.py) and the vantage host (the attendee's: attendee.py): invite, answer,
await_reply (+ delete the event), cleanup. Each returns {"checks": [...], ...}; a check id may come
from two steps (a failure first, the outcome later): the report keeps the worst.
"""

from __future__ import annotations

import time

from ansible_collections.imip.server.plugins.module_utils.status import checks as sc


INVITATION, REPLY, CLEANUP = "roundtrip.invitation", "roundtrip.reply", "roundtrip.cleanup"
AUTHENTICATION = "roundtrip.authentication"
UID_SUFFIX = "@status-check.imip.server"
GATEWAY_FIX = "on the calendar host: `imip-gateway status` (the queue and the last SMTP/IMAP error) and `journalctl -u imip-gateway`"


def line(check_id, status, message, should="", fix=None):
    return sc.check(check_id, sc.ROUNDTRIP, status, message, should, fix)


def wait_for(probe, timeout, interval=0.5, clock=time.monotonic, sleep=time.sleep):
    """probe() until it returns something truthy or timeout seconds passed: (result, seconds)."""
    start = clock()
    while True:
        result = probe()
        elapsed = clock() - start
        if result or elapsed >= timeout:
            return result, elapsed
        sleep(interval)
