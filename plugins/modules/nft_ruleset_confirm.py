#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: nft_ruleset_confirm
short_description: Keep a ruleset applied by nft_ruleset - make it the boot-time file and stop its rollback
version_added: 0.1.0
description:
  - The second half of M(imip.server.nft_ruleset)'s safe apply. After an apply with a rollback
    armed, the new tables are loaded but the boot-time file O(path) still holds the last
    confirmed ruleset. Call this module once the caller has proved it still reaches the host
    (for example with M(ansible.builtin.wait_for_connection), which opens a new connection).
  - It writes the applied ruleset to O(path) (atomically, so a reboot at any moment boots the
    old or the new file, never a part of one), records its listing for drift detection, and
    stops the rollback timer.
  - It takes the lock the rollback takes. When the rollback has already fired, or the kernel no
    longer holds the applied tables (the host restarted and loaded the boot-time file, or they
    were changed by hand), it fails and writes nothing, so a run never reports success with the
    old tables loaded. RV(rolled_back) tells the two cases apart.
author:
  - imip.server developers (@imip-server)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - imip.server.attributes
attributes:
  check_mode:
    support: full
    details: Checks that the applied ruleset is still pending and loaded, and writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: There is something to confirm only right after M(imip.server.nft_ruleset) applied a ruleset with a rollback armed.
  platform:
    platforms: posix
options:
  path:
    description: The boot-time file, as given to M(imip.server.nft_ruleset).
    type: path
    required: true
  tables:
    description: The tables the ruleset owns, as given to M(imip.server.nft_ruleset).
    type: list
    elements: str
    required: true
  state_dir:
    description: The state directory, as given to M(imip.server.nft_ruleset).
    type: path
    default: /var/lib/imip/firewall
  rollback_unit:
    description: The rollback timer's name, as given to M(imip.server.nft_ruleset).
    type: str
    default: imip-firewall-rollback
notes:
  - Needs root (C(nft) needs CAP_NET_ADMIN to list the tables).
seealso:
  - module: imip.server.nft_ruleset
"""

EXAMPLES = r"""
- name: Apply the host firewall, rolled back after 45 s unless confirmed
  imip.server.nft_ruleset:
    content: "{{ lookup('ansible.builtin.template', 'etc/imip/firewall.nft.j2') }}"
    path: /etc/imip/firewall.nft
    tables: [inet imip_filter]
    rollback_timeout: 45
  register: applied

- name: Reach the host over a new connection, through the new rules
  when: applied.rollback_armed
  ansible.builtin.wait_for_connection:
    timeout: 20

- name: Keep the new ruleset
  when: applied.rollback_armed
  imip.server.nft_ruleset_confirm:
    path: /etc/imip/firewall.nft
    tables: [inet imip_filter]
"""

RETURN = r"""
rolled_back:
  description: Whether the rollback had already fired (only on failure; V(false) when the tables were lost otherwise).
  returned: failure
  type: bool
path:
  description: The boot-time file, now holding the confirmed ruleset.
  returned: success
  type: str
  sample: /etc/imip/firewall.nft
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imip.server.plugins.module_utils.firewall.nft import (
    Nft,
    NftError,
    NotConfirmed,
    State,
    confirm,
    locked,
    parse_table,
    read_file,
    remove_file,
    stop_rollback,
    write_file,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            tables=dict(type="list", elements="str", required=True),
            state_dir=dict(type="path", default="/var/lib/imip/firewall"),
            rollback_unit=dict(type="str", default="imip-firewall-rollback"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        tables = [parse_table(t) for t in p["tables"]]
    except ValueError as exc:
        module.fail_json(msg="tables: %s" % exc)
    binary = module.get_bin_path("nft", required=True)
    state = State(p["state_dir"])
    if not os.path.isdir(state.dir):
        module.fail_json(msg="not confirmed: no applied ruleset is waiting for confirmation (%s does not exist)" % state.dir,
                         rolled_back=False)

    def stop():
        # After the boot-time file is written: if the timer still fires, the script finds
        # nothing pending and leaves the tables alone.
        stop_rollback(module.run_command, p["rollback_unit"])

    try:
        with locked(state):
            confirm(Nft(module.run_command, binary), tables, p["path"], state, read_file, write_file, remove_file,
                    stop, check_mode=module.check_mode)
    except NotConfirmed as exc:
        module.fail_json(msg="not confirmed: %s" % exc, rolled_back=exc.rolled_back)
    except NftError as exc:
        module.fail_json(msg=str(exc), rolled_back=False)
    module.exit_json(changed=True, path=p["path"])


if __name__ == "__main__":
    main()
