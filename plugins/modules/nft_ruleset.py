#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: nft_ruleset
short_description: Replace a few named nftables tables atomically, with an armed rollback
version_added: 0.1.0
description:
  - Keeps the nftables tables named in O(tables) exactly as O(content) defines them, and
    O(content) as the boot-time file O(path). Every other table of the host (Docker's C(ip nat),
    fail2ban's, ...) is left alone; the module never runs C(flush ruleset).
  - O(content) must begin with C(table FAMILY NAME) and C(delete table FAMILY NAME) for every
    table in O(tables), then define the tables it wants, so that C(nft -f) replaces them in one
    transaction. It is validated with C(nft -c -f) before anything is written or applied.
  - Nothing is applied when O(path) already holds O(content) and the kernel's listing of the
    tables (C(nft -s list table)) is the one saved when the last ruleset was confirmed; a hand
    edit of the file or of the live tables is drift, reported in the diff and repaired.
  - Before applying, the current tables are saved in O(state_dir)C(/previous.nft). With
    O(rollback_timeout) > 0 a systemd timer (O(rollback_unit)C(.timer)) is armed that restores
    them after that many seconds, and O(path) is B(not) written yet; the new ruleset waits in
    O(state_dir)C(/pending.nft) until M(imip.server.nft_ruleset_confirm) makes it the boot-time
    file, once the caller has proved it can still reach the host. A reboot before that boots
    the last confirmed ruleset.
  - With O(rollback_timeout=0) there is nothing to confirm, and O(path) is written right after
    the apply.
author:
  - imip.server developers (@imip-server)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - imip.server.attributes
attributes:
  check_mode:
    support: full
    details: Validates and reports; on a host without C(nft) yet, reports the file that would be written.
  diff_mode:
    support: full
    details: The diff of the persisted file, and of the live tables against the last applied listing.
  idempotent:
    support: full
  platform:
    platforms: posix
options:
  content:
    description: The whole ruleset file (see the description for its shape).
    type: str
    required: true
  path:
    description: Where the ruleset is persisted, for example V(/etc/imip/firewall.nft).
    type: path
    required: true
  tables:
    description:
      - The tables this ruleset owns, as C(FAMILY NAME), for example V(inet imip_filter).
      - An owned table that O(content) does not define is removed.
    type: list
    elements: str
    required: true
  state_dir:
    description: Directory (mode 0700) for the saved listings, the pending ruleset and the rollback files.
    type: path
    default: /var/lib/imip/firewall
  rollback_timeout:
    description:
      - Seconds after which an unconfirmed apply is rolled back; V(0) arms no rollback.
    type: int
    default: 0
  rollback_unit:
    description: Name of the transient systemd timer and service that roll back.
    type: str
    default: imip-firewall-rollback
notes:
  - Needs root (C(nft) needs CAP_NET_ADMIN, also for C(nft -c)).
  - The rollback uses C(systemd-run); a host without systemd can use O(rollback_timeout=0).
seealso:
  - module: imip.server.nft_ruleset_confirm
  - name: nft(8)
    description: The nftables command line, its ruleset syntax and C(-c) (check only).
    link: https://www.netfilter.org/projects/nftables/manpage.html
"""

EXAMPLES = r"""
- name: Apply the host firewall, rolled back after 45 s unless confirmed
  imip.server.nft_ruleset:
    content: "{{ lookup('ansible.builtin.template', 'etc/imip/firewall.nft.j2') }}"
    path: /etc/imip/firewall.nft
    tables: [inet imip_filter, ip imip_nat]
    rollback_timeout: 45
  register: applied

- name: Reach the host over a new connection, through the new rules
  when: applied.rollback_armed
  ansible.builtin.wait_for_connection:
    timeout: 20

- name: Keep the new ruleset (boot-time file written, rollback stopped)
  when: applied.rollback_armed
  imip.server.nft_ruleset_confirm:
    path: /etc/imip/firewall.nft
    tables: [inet imip_filter, ip imip_nat]
"""

RETURN = r"""
file_changed:
  description: Whether O(path) did not hold O(content).
  returned: always
  type: bool
drift:
  description: Whether the live tables differed from the listing saved after the last apply (or none was saved).
  returned: always
  type: bool
applied:
  description: Whether the ruleset was loaded into the kernel in this run.
  returned: always
  type: bool
rollback_armed:
  description: Whether a rollback timer is waiting for confirmation.
  returned: always
  type: bool
rollback_unit:
  description: The rollback timer's unit name.
  returned: always
  type: str
  sample: imip-firewall-rollback.timer
previous:
  description: The file holding the tables as they were before this apply.
  returned: when applied
  type: str
  sample: /var/lib/imip/firewall/previous.nft
pending:
  description: The file holding the applied ruleset until it is confirmed (it then becomes O(path)).
  returned: when applied with a rollback armed
  type: str
  sample: /var/lib/imip/firewall/pending.nft
listing:
  description: The owned tables as the kernel lists them after this run (before it, in check mode).
  returned: success
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imip.server.plugins.module_utils.firewall.nft import (
    Nft,
    NftError,
    State,
    locked,
    parse_table,
    plan,
    read_file,
    remove_file,
    rollback_ruleset,
    rollback_script,
    stop_rollback,
    write_file,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            content=dict(type="str", required=True),
            path=dict(type="path", required=True),
            tables=dict(type="list", elements="str", required=True),
            state_dir=dict(type="path", default="/var/lib/imip/firewall"),
            rollback_timeout=dict(type="int", default=0),
            rollback_unit=dict(type="str", default="imip-firewall-rollback"),
        ),
        supports_check_mode=True,
    )
    tables, content = _arguments(module)
    path, state_dir = module.params["path"], module.params["state_dir"]
    result = dict(changed=False, applied=False, rollback_armed=False, rollback_unit=module.params["rollback_unit"] + ".timer")

    binary = module.get_bin_path("nft")
    installed = read_file(path)
    if binary is None:
        _without_nft(module, result, path, installed, content)
    nft = Nft(module.run_command, binary)
    candidate, live = _validate(module, nft, tables, content, result)

    decision = plan(content, installed, live, read_file(State(state_dir).applied), path)
    result.update(changed=decision["changed"], file_changed=decision["file_changed"], drift=decision["drift"], listing=live)
    if module._diff:
        result["diff"] = decision["diff"]
    if not decision["changed"] or module.check_mode:
        module.exit_json(**result)
    _apply(module, nft, tables, content, candidate, live, result)
    module.exit_json(**result)


def _arguments(module):
    """(tables, content ending in a line break); fails on a bad table or timeout."""
    p = module.params
    try:
        tables = [parse_table(t) for t in p["tables"]]
    except ValueError as exc:
        module.fail_json(msg="tables: %s" % exc)
    if p["rollback_timeout"] < 0:
        module.fail_json(msg="rollback_timeout must be 0 (no rollback) or a number of seconds, not %s" % p["rollback_timeout"])
    content = p["content"] if p["content"].endswith("\n") else p["content"] + "\n"
    return tables, content


def _without_nft(module, result, path, installed, content):
    """No nft: under --check (a fresh host) report the file that would be written, else fail."""
    if module.check_mode:
        result.update(changed=True, file_changed=True, drift=True, listing="")
        if module._diff:
            result["diff"] = [dict(before_header=path, before=installed or "", after_header=path, after=content)]
        module.warn("nft is not installed yet: the ruleset was not validated")
        module.exit_json(**result)
    module.fail_json(msg="nft is not installed: install the nftables package first", **result)


def _validate(module, nft, tables, content, result):
    """`nft -c` on `content` in a candidate file: (candidate, the owned tables' listing now)."""
    fd, candidate = tempfile.mkstemp(prefix="imip-nft-", suffix=".nft", dir=module.tmpdir)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    try:
        nft.check(candidate)
        live = nft.listing(tables)
    except NftError as exc:
        module.fail_json(msg=str(exc), **result)
    return candidate, live


def _apply(module, nft, tables, content, candidate, live, result):
    """Keep the previous tables, arm the rollback, load. With a rollback armed the ruleset waits in the
    state directory until nft_ruleset_confirm makes it the boot-time file; without, it is persisted now."""
    p = module.params
    if not os.path.isdir(p["state_dir"]):
        os.makedirs(p["state_dir"], 0o700)
    state = State(p["state_dir"])
    armed = p["rollback_timeout"] > 0
    with locked(state):
        _save_previous(module, nft, tables, live, state, content if armed else None)
        result["previous"] = state.previous
        if armed:
            _arm_rollback(module, state, result)
        _load(module, nft, candidate, state, armed, result)
        try:
            listing = nft.listing(tables)
        except NftError as exc:
            module.fail_json(msg=str(exc), **result)
        result["listing"] = listing
        if armed:
            write_file(state.pending_listing, listing)
            result["pending"] = state.pending
        else:
            write_file(p["path"], content, 0o644)
            write_file(state.applied, listing)


def _save_previous(module, nft, tables, live, state, pending):
    """previous.nft (unless a rollback is pending), rollback.sh, and `pending` (if any) in pending.nft."""
    rc = module.run_command(["systemctl", "is-active", "--quiet", module.params["rollback_unit"] + ".timer"])[0]
    if rc != 0:
        # No rollback pending from an unconfirmed apply: what is loaded now is what to go back to.
        # (With one pending, previous.nft keeps the last confirmed tables.)
        write_file(state.previous, rollback_ruleset(tables, live))
    write_file(state.script, rollback_script(nft.binary, state), 0o700)
    for stale in (state.rolled_back, state.pending, state.pending_listing):
        remove_file(stale)
    if pending is not None:
        write_file(state.pending, pending)


def _arm_rollback(module, state, result):
    """Start the rollback timer (replacing an armed one); on failure nothing stays pending."""
    unit = module.params["rollback_unit"]
    stop_rollback(module.run_command, unit)
    rc, out, err = module.run_command([
        "systemd-run", "--unit", unit, "--description", "imip.server: roll back an unconfirmed firewall ruleset",
        "--on-active", "%ds" % module.params["rollback_timeout"], "--timer-property", "AccuracySec=1s",
        "/bin/sh", state.script,
    ])
    if rc != 0:
        remove_file(state.pending)
        module.fail_json(msg="could not arm the rollback timer (systemd-run, exit %s): %s; nothing was applied"
                         % (rc, (err or out).strip()), **result)
    result["rollback_armed"] = True


def _load(module, nft, candidate, state, armed, result):
    """`nft -f` the candidate; on failure stop the rollback (the previous tables are still loaded)."""
    try:
        nft.apply(candidate)
    except NftError as exc:
        if armed:
            module.run_command(["systemctl", "stop", module.params["rollback_unit"] + ".timer"])
            remove_file(state.pending)
            result["rollback_armed"] = False
        module.fail_json(msg="%s; the previous tables are still in place" % exc, **result)
    result["applied"] = True


if __name__ == "__main__":
    main()
