#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tls_service_reload
short_description: Reload the services that use a certificate until each has loaded its current content
version_added: 0.1.0
description:
  - Reloads (or restarts) every running service in O(services) that has not loaded the current
    content of O(certificate), whoever changed the file.
  - systemd records when a unit last started, not when it reloaded. So every reload this module
    does is recorded in O(state_dir) as the SHA-256 of the certificate it loaded. A service is up
    to date when that record names the current certificate, or when it started after the
    certificate file was last written (then only the record is written).
  - A service that is not installed or not running is left alone; it reads the certificate when
    it starts. Nothing happens while the certificate does not exist.
  - Because the decision rests on recorded state, a run that failed between changing the
    certificate and reloading is caught up by the next run.
  - The role C(imip.server.tls) runs it at the end of every run for the services of its variable
    C(imip_tls_services).
author:
  - imip.server developers (@imip-server)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - imip.server.attributes
attributes:
  check_mode:
    support: full
    details: Reports the reloads it would do and does none.
  diff_mode:
    support: none
  idempotent:
    support: full
  platform:
    platforms: posix
options:
  certificate:
    description:
      - The certificate file the services read (for example the full chain).
    type: path
    required: true
  services:
    description:
      - The services that read O(certificate).
    type: list
    elements: dict
    required: true
    suboptions:
      unit:
        description:
          - The systemd unit; C(.service) is added when the name has no suffix.
        type: str
        required: true
      action:
        description:
          - V(reload) (C(systemctl reload-or-restart)) for services that re-read their certificate
            on reload, V(restart) for those that read it only at start.
        type: str
        choices: [reload, restart]
        default: reload
  state_dir:
    description:
      - Where the digest each service last loaded is recorded (one file per unit, root only).
    type: path
    default: /var/lib/imip/tls/loaded
"""

EXAMPLES = r"""
- name: Reload the services that use the certificate
  imip.server.tls_service_reload:
    certificate: /etc/imip/tls/fullchain.pem
    services:
      - unit: postfix
      - unit: dovecot
      - unit: radicale
        action: restart
"""

RETURN = r"""
services:
  description: What was decided for each service.
  returned: always
  type: list
  elements: dict
  contains:
    unit:
      description: The unit.
      type: str
      sample: postfix.service
    action:
      description: Its action (V(reload) or V(restart)).
      type: str
    done:
      description: V(reload) or V(restart) when it was (or, in check mode, would be) done; V(null) otherwise.
      type: str
    reason:
      description: Why.
      type: str
      sample: runs with an older certificate
  sample:
    - {unit: postfix.service, action: reload, done: reload, reason: runs with an older certificate}
    - {unit: radicale.service, action: restart, done: null, reason: not installed}
"""

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imip.server.plugins.module_utils import _tls_reload


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _record(state_dir, unit, digest):
    if not os.path.isdir(state_dir):
        os.makedirs(state_dir, mode=0o700)
    path = os.path.join(state_dir, unit)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(digest + "\n")
    os.replace(tmp, path)  # same directory; keeps the 0600 of the new file


def _states(module, systemctl, units):
    """(each unit's `systemctl show` state, the certificate digest each unit was last (re)loaded
    with, from state_dir, or None)."""
    rc, out, err = module.run_command(_tls_reload.show_argv(systemctl, units))
    if rc != 0:
        module.fail_json(msg="systemctl show %s failed: %s" % (" ".join(units), (err or out).strip()))
    try:
        states = _tls_reload.parse_show(out, units)
    except _tls_reload.ServiceError as exc:
        module.fail_json(msg=str(exc))
    records = {}
    for unit in units:
        recorded = _read(os.path.join(module.params["state_dir"], unit))
        records[unit] = recorded.decode("ascii", "replace").strip() if recorded else None
    return states, records


def _act(module, systemctl, steps, digest):
    """Reload or restart what the plan says (not under --check) and record the digest; True when
    something was (or would be) reloaded or restarted."""
    params = module.params
    changed = False
    for step in steps:
        if step["do"] in _tls_reload.ACTIONS:
            changed = True
            if not module.check_mode:
                verb = "reload-or-restart" if step["do"] == "reload" else "restart"
                rc, out, err = module.run_command([systemctl, verb, step["unit"]])
                if rc != 0:
                    module.fail_json(msg="%s of %s, which uses %s, failed: %s" % (
                        verb, step["unit"], params["certificate"], (err or out).strip()),
                        services=_result(steps))
        if step["do"] is not None and not module.check_mode:
            _record(params["state_dir"], step["unit"], digest)
    return changed


def main():
    module = AnsibleModule(
        argument_spec=dict(
            certificate=dict(type="path", required=True),
            services=dict(type="list", elements="dict", required=True, options=dict(
                unit=dict(type="str", required=True),
                action=dict(type="str", choices=list(_tls_reload.ACTIONS), default="reload"),
            )),
            state_dir=dict(type="path", default="/var/lib/imip/tls/loaded"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        services = _tls_reload.check_services(params["services"])
    except _tls_reload.ServiceError as exc:
        module.fail_json(msg=str(exc))
    content = _read(params["certificate"])
    if content is None or not services:
        module.exit_json(changed=False, services=[dict(s, done=None, reason="no certificate yet") for s in services])
    digest = hashlib.sha256(content).hexdigest()
    mtime = os.stat(params["certificate"]).st_mtime
    systemctl = module.get_bin_path("systemctl", required=True)
    states, records = _states(module, systemctl, [s["unit"] for s in services])
    steps = _tls_reload.plan(services, digest, mtime, states, records)
    changed = _act(module, systemctl, steps, digest)
    module.exit_json(changed=changed, services=_result(steps))


def _result(steps):
    return [dict(unit=s["unit"], action=s["action"], reason=s["reason"],
                 done=s["do"] if s["do"] in _tls_reload.ACTIONS else None) for s in steps]


if __name__ == "__main__":
    main()
