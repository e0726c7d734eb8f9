# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of imip.server.systemd_services: units enabled and started (or disabled and
stopped) with one `systemctl show` when nothing changes.

ansible.builtin.systemd_service costs a module run per unit even when the unit is already as
asked, and a drift run finds every unit so. Here every unit of the task is read with one
`systemctl show` straight over the connection (as the raw module runs a command: no module to
send and start), and only the units that differ go to ansible.builtin.systemd_service, which
enables, starts, stops, reloads systemd and honours check mode as it always does.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.imip.server.plugins.module_utils._systemd_units import in_place, parse_show, show_command, task_arguments


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("name", "enabled", "state", "daemon_reload"))

    def _read(self, names):
        """Each unit's properties in the order of `names`, or None when systemctl's answer cannot
        be read unit by unit (then the builtin judges every unit)."""
        answer = self._low_level_execute_command(show_command(names), sudoable=False)
        if answer.get("rc") != 0:
            return None
        units = parse_show(to_text(answer.get("stdout", "")))
        return units if len(units) == len(names) else None

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        try:
            names, want = task_arguments(self._task.args)
        except ValueError as error:
            raise AnsibleActionFail(str(error)) from error
        if not names:
            result.update(changed=False, units=[])
            return result
        units = self._read(names) or [{} for _name in names]

        report, changed = [], False
        for name, unit in zip(names, units):
            if in_place(want, unit):
                report.append({"name": name, "changed": False, "handed_on": False})
                continue
            done = self._execute_module(module_name="ansible.legacy.systemd_service",
                                        module_args=dict(want, name=name), task_vars=task_vars)
            if done.get("failed"):
                done["msg"] = "%s: %s" % (name, done.get("msg", ""))
                done["units"] = report + [{"name": name, "changed": False, "handed_on": True, "failed": True}]
                done["changed"] = changed
                return done
            changed = changed or bool(done.get("changed"))
            report.append({"name": name, "changed": bool(done.get("changed")), "handed_on": True})
        result.update(changed=changed, units=report)
        return result
