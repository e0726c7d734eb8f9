# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which running services have not loaded a certificate's current content (for tls_service_reload).

A service reads its certificate when it starts and when it reloads. systemd records when a unit
last entered the active state (a start or restart) but not when it reloaded, so each reload we
do is recorded as the digest of the certificate it loaded. A service is up to date when its
record names the current digest, or when it started after the certificate file was written.
Pure functions: the module does the I/O (systemctl, files).
"""

from __future__ import annotations

import re

ACTIONS = ("reload", "restart")
# systemd unit names (systemd.unit(5)): letters, digits, ":-_.\\@"; ".service" is implied.
_UNIT_RE = re.compile(r"^[A-Za-z0-9:_.\\@-]+$")


class ServiceError(Exception):
    """Bad input or a failed systemctl call, with a message for the user."""


def check_services(services):
    """[{unit, action}] with the unit's full name; raises ServiceError naming the bad entry."""
    out, seen = [], set()
    for index, entry in enumerate(services or []):
        unit = (entry or {}).get("unit") or ""
        action = (entry or {}).get("action") or "reload"
        if not _UNIT_RE.match(unit):
            raise ServiceError("services[%d]: unit %r is not a systemd unit name" % (index, unit))
        if action not in ACTIONS:
            raise ServiceError("services[%d] (%s): action %r must be one of %s" % (index, unit, action, ", ".join(ACTIONS)))
        if "." not in unit:
            unit += ".service"
        if unit in seen:
            continue
        seen.add(unit)
        out.append({"unit": unit, "action": action})
    return out


def show_argv(systemctl, units):
    return [systemctl, "show", "--timestamp=unix", "--property=Id,LoadState,ActiveState,ActiveEnterTimestamp"] + list(units)


def parse_show(text, units):
    """`systemctl show` output (one block per unit, in order) -> {unit: {loaded, active, since}}."""
    blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b.strip()] if text.strip() else []
    if len(blocks) != len(units):
        raise ServiceError("systemctl show returned %d blocks for %d units" % (len(blocks), len(units)))
    states = {}
    for unit, block in zip(units, blocks):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        since = props.get("ActiveEnterTimestamp", "")
        states[unit] = {
            "loaded": props.get("LoadState") == "loaded",
            "active": props.get("ActiveState") in ("active", "reloading"),
            "since": int(since[1:]) if since.startswith("@") and since[1:].isdigit() else None,
        }
    return states


def plan(services, digest, mtime, states, records):
    """What to do for each service.

    services: check_services() output; digest: the certificate's sha256 (None: no certificate);
    mtime: its modification time (seconds); states: parse_show() output; records: {unit: digest
    recorded at our last reload, or None}. Returns a list of {unit, action, do, reason} where `do`
    is "reload"/"restart" (act and record), "record" (up to date, only record the digest) or
    None (nothing: not running, or already recorded).
    """
    steps = []
    for service in services:
        unit, state = service["unit"], states.get(service["unit"], {})
        step = dict(service, do=None)
        if digest is None:
            step["reason"] = "no certificate yet"
        elif not state.get("loaded"):
            step["reason"] = "not installed"
        elif not state.get("active"):
            step["reason"] = "not running (reads the certificate when it starts)"
        elif records.get(unit) == digest:
            step["reason"] = "has the current certificate"
        elif state.get("since") is not None and state["since"] >= int(mtime):
            step.update(do="record", reason="started after the certificate was written")
        else:
            step.update(do=service["action"], reason=(
                "runs with an older certificate" if records.get(unit) else "started before the certificate was written"))
        steps.append(step)
    return steps
