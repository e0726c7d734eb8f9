#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: systemd_services
short_description: Enable and start systemd units, with one systemctl call when all are as asked
version_added: 0.1.0
description:
  - Makes each unit of O(name) enabled or disabled (O(enabled)) and started or stopped (O(state)),
    like M(ansible.builtin.systemd_service) does for one.
  - Every unit of the task is read with one C(systemctl show) run straight over the connection, as
    M(ansible.builtin.raw) runs a command. A unit that already is as asked, loaded from its unit
    file as it is on disk, is left alone without any module run. Every other unit is handed to
    M(ansible.builtin.systemd_service), with O(daemon_reload) when given.
  - A drift run, which finds every unit as asked, so costs one command per task instead of one
    module run per unit.
  - This is an action plugin; the module file holds its documentation.
author:
  - imip.server developers (@imip-server)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - imip.server.attributes
attributes:
  check_mode:
    support: full
    details: Units that differ are reported, as by M(ansible.builtin.systemd_service), and not changed.
  diff_mode:
    support: none
  idempotent:
    support: full
  platform:
    platforms: posix
options:
  name:
    description:
      - The units, in the order they are to be handled. A name without a suffix is a C(.service).
    type: list
    elements: str
    required: true
  enabled:
    description:
      - Whether each unit starts at boot.
    type: bool
  state:
    description:
      - V(started) or V(stopped). Restarts and reloads belong to handlers, with
        M(ansible.builtin.systemd_service).
    type: str
    choices: [started, stopped]
  daemon_reload:
    description:
      - Passed to M(ansible.builtin.systemd_service) for a unit that is handed to it. A unit whose
        file changed on disk since systemd read it is always handed on.
    type: bool
    default: false
seealso:
  - module: ansible.builtin.systemd_service
"""

EXAMPLES = r"""
- name: Start the milters at boot
  imip.server.systemd_services:
    name: [dkimpy-milter, pyspf-milter, opendmarc]
    enabled: true
    state: started
"""

RETURN = r"""
units:
  description:
    - Each unit of O(name), in order, whether this task changed it, and whether it was handed to
      M(ansible.builtin.systemd_service) (C(handed_on)) or found as asked without it.
  returned: always
  type: list
  elements: dict
  sample:
    - name: postfix
      changed: false
      handed_on: false
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="list", elements="str", required=True),
            enabled=dict(type="bool"),
            state=dict(type="str", choices=["started", "stopped"]),
            daemon_reload=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    module.fail_json(msg="imip.server.systemd_services runs as an action plugin on the controller; "
                         "this module file only documents it")


if __name__ == "__main__":
    main()
