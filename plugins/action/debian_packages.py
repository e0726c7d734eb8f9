# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of imip.server.debian_packages: apt only for what is not installed.

A drift run finds every package in place. ansible.builtin.apt spends a module run on each host
to say so (0.5 to 1 s with its cache check); here the list of installed packages is read once per
host and run (with dpkg-query, kept as the host's fact `packages` in package_facts' shape), and each later
task compares its names with it on the controller. Only names not installed go to
ansible.builtin.apt, after which the list is read again.
"""

from __future__ import annotations

import shlex

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.imip.server.plugins.module_utils._packages import DPKG_QUERY_FORMAT, installed_packages, missing_packages

# Arguments passed through to ansible.builtin.apt as they are.
APT_OPTIONS = ("install_recommends", "cache_valid_time", "update_cache")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("name",) + APT_OPTIONS)

    def _package_list(self):
        # dpkg-query straight over the connection (as the raw module would): no module to send
        # and start, and a short answer, where package_facts cost half a second more per host.
        command = "dpkg-query -W -f=%s" % shlex.quote(DPKG_QUERY_FORMAT)
        answer = self._low_level_execute_command(command, sudoable=False)
        if answer.get("rc") != 0:
            raise AnsibleActionFail("cannot read the installed packages (%s): %s"
                                    % (command, to_text(answer.get("stderr") or answer.get("stdout")).strip()))
        return installed_packages(to_text(answer.get("stdout", "")))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        names = self._task.args.get("name")
        if isinstance(names, str):
            names = [names]
        if not names or not all(isinstance(name, str) and name for name in names):
            raise AnsibleActionFail("name: expected a package name or a list of package names, got %r" % (names,))

        installed = (task_vars.get("ansible_facts") or {}).get("packages")
        read_now = installed is None
        if read_now:
            installed = self._package_list()
        missing = missing_packages(names, installed)
        result["missing"] = missing
        if not missing:
            result.update(changed=False, msg="installed: %s" % ", ".join(names))
            if read_now:
                result["ansible_facts"] = {"packages": installed}
            return result

        apt_args = {"name": missing, "state": "present"}
        apt_args.update({key: self._task.args[key] for key in APT_OPTIONS if key in self._task.args})
        apt = self._execute_module(module_name="ansible.builtin.apt", module_args=apt_args, task_vars=task_vars)
        result.update(apt)
        if apt.get("failed"):
            return result
        if apt.get("changed") and not self._task.check_mode:
            # What apt installed is in the list for the tasks after this one.
            result["ansible_facts"] = {"packages": self._package_list()}
        elif read_now:
            # Under --check nothing was installed: the list as read (later tasks see the packages
            # missing, as they would have without this plugin).
            result["ansible_facts"] = {"packages": installed}
        return result
