# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One line of the status report, and the two rules every check follows (private to imip.server).

A check is a dict {id, heading, status, message, should, fix}: `message` says what is, `should`
what it should be, `fix` (a list of lines) how to get there. status is "ok", "fail" or
"unknown" ("could not determine"), printed as ✓, ✖ and ?. The rules:

- one failing check never hides another: `guarded()` turns an unexpected exception inside one
  check into an "unknown" line for that check alone;
- a timeout is retried before it counts: `retry()` calls a probe again while it times out.

Used by the status modules (site_status_info, outside_status_info, the round trip) and the
status_report filter; docs/status.md lists every check id.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"
STATUSES = (OK, FAIL, UNKNOWN)
SYMBOL = {OK: "\u2713", FAIL: "\u2716", UNKNOWN: "?"}

# Headings in the order the report prints them (docs/status.md).
DNS = "DNS seen from outside"
PORTS = "Ports seen from outside"
MAIL = "Mail from outside"
TLS = "TLS certificates"
ACCOUNT = "Invitation account"
GATEWAY = "iMIP gateway"
BACKUP = "Backups"
ROUNDTRIP = "Invitation round trip"
HEADINGS = (DNS, PORTS, MAIL, TLS, ACCOUNT, GATEWAY, BACKUP, ROUNDTRIP)
# Each id starts with its heading's prefix (docs/status.md).
PREFIXES = {"dns": DNS, "port": PORTS, "mail": MAIL, "tls": TLS, "account": ACCOUNT, "gateway": GATEWAY,
            "backup": BACKUP, "roundtrip": ROUNDTRIP}


def heading_of(check_id):
    """The heading of a check id (its first dotted part), e.g. tls.993 -> TLS certificates."""
    prefix = str(check_id).split(".", 1)[0]
    if prefix not in PREFIXES:
        raise ValueError("check id %r does not start with one of %s" % (check_id, ", ".join(sorted(PREFIXES))))
    return PREFIXES[prefix]


def check(check_id, heading, status, message, should="", fix=None):
    """One check's result (what is, what should be, how to fix it)."""
    if status not in STATUSES:
        raise ValueError("status must be one of %s, not %r" % (", ".join(STATUSES), status))
    if heading not in HEADINGS:
        raise ValueError("unknown heading %r" % heading)
    if isinstance(fix, str):
        fix = [fix]
    return {"id": check_id, "heading": heading, "status": status, "message": message,
            "should": should or "", "fix": list(fix or [])}


def ok(check_id, heading, message):
    return check(check_id, heading, OK, message)


def fail(check_id, heading, message, should, fix):
    return check(check_id, heading, FAIL, message, should, fix)


def unknown(check_id, heading, message, fix=None):
    return check(check_id, heading, UNKNOWN, message, fix=fix)


def guarded(check_id, heading, func, *args, **kwargs):
    """func(*args, **kwargs) -> a check or a list of checks; an unexpected error becomes one
    "unknown" check with that id instead of ending the report."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # pylint: disable=broad-except  # one broken check never hides the others
        return unknown(check_id, heading, "could not determine: internal error in the check: %s: %s"
                       % (type(exc).__name__, exc))


def as_list(checks):
    """guarded() returns what the check returned, or one check: always a list."""
    return [checks] if isinstance(checks, dict) else list(checks)


def is_timeout(exc):
    return isinstance(exc, (socket.timeout, TimeoutError))


def retry(probe, retries, is_transient=is_timeout, pause=0.2, sleep=time.sleep):
    """probe() once, and up to `retries` more times while it raises a transient error (a
    timeout). Returns (value, None) or (None, last exception) - never raises for those."""
    last = None
    for attempt in range(int(retries) + 1):
        if attempt:
            sleep(pause)
        try:
            return probe(), None
        except Exception as exc:  # pylint: disable=broad-except  # classified below
            if not is_transient(exc):
                raise
            last = exc
    return None, last


def in_parallel(jobs):
    """Run the callables at once (network waits overlap) and return their results in order.
    Each job guards itself: what one raises is raised here, after all have finished."""
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [f.result() for f in futures]


def counts(checks):
    return dict((status, sum(1 for c in checks if c["status"] == status)) for status in STATUSES)
