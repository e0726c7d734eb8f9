# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether systemd units already are what a task asks (imip.server.systemd_services).

A drift run finds every service enabled and running. ansible.builtin.systemd_service spends a
module run per unit to say so; the action reads every unit of a task with one `systemctl show`
and hands only the units that differ here to the builtin. The rule is deliberately narrow: a
state this cannot judge for certain (a unit not loaded, `static`, `activating`, a unit file changed
on disk since systemd read it) counts as different, so the builtin decides.
"""

from __future__ import annotations

import re
import shlex

# A unit name as systemd accepts it (letters, digits, ":-_.\\@"): nothing a shell would read.
_UNIT = re.compile(r"^[A-Za-z0-9:_.@\\-]+$")
STATES = ("started", "stopped")
PROPERTIES = ("Id", "LoadState", "ActiveState", "UnitFileState", "NeedDaemonReload")


def show_command(names):
    """The `systemctl show` command line for `names` (unit names, as task_arguments checked them)."""
    return "systemctl show --property=%s -- %s" % (",".join(PROPERTIES), " ".join(shlex.quote(name) for name in names))


def parse_show(text):
    """`systemctl show` output: one dict of properties per unit, in the order asked (systemd
    separates the units' blocks with an empty line)."""
    units, current = [], {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                units.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    if current:
        units.append(current)
    return units


def in_place(want, unit):
    """True when `unit` (parse_show) is what `want` asks: `enabled` (true/false, or None for
    either) and `state` (started, stopped, or None for either), its unit file loaded as it is
    on disk."""
    if unit.get("LoadState") != "loaded" or unit.get("NeedDaemonReload") != "no":
        return False
    enabled = want.get("enabled")
    if enabled is True and unit.get("UnitFileState") != "enabled":
        return False
    if enabled is False and unit.get("UnitFileState") != "disabled":
        return False
    state = want.get("state")
    if state == "started" and unit.get("ActiveState") != "active":
        return False
    if state == "stopped" and unit.get("ActiveState") not in ("inactive", "failed"):
        return False
    return True


def task_arguments(args):
    """(names, want) from the task's arguments: `name` (one or a list), `enabled`, `state`,
    `daemon_reload`; ValueError naming the argument and what was expected otherwise."""
    names = args.get("name")
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(name, str) and _UNIT.match(name) for name in names):
        raise ValueError("name: expected a unit name or a list of unit names, got %r" % (args.get("name"),))
    want = {}
    for key in ("enabled", "daemon_reload"):
        value = args.get(key)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise ValueError("%s: expected true or false, got %r" % (key, value))
        want[key] = value
    state = args.get("state")
    if state is not None:
        if state not in STATES:
            raise ValueError("state: expected one of %s, got %r" % (", ".join(STATES), state))
        want["state"] = state
    if "enabled" not in want and "state" not in want:
        raise ValueError("expected enabled or state (or both): the task asks nothing of %s" % (", ".join(names) or "no unit"))
    return names, want
