#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: password_parity
short_description: Rewrite every drifted copy of a password
version_added: 0.1.0
description:
  - Compares every stored copy of one password with O(secret), the source of truth (for
    example from Ansible Vault), and rewrites each writable copy that does not hold it;
    keychain items, one ini key, whole files, and the password field of a Dovecot
    passwd-file user. Live SMTP and IMAP probes run after the rewrites, so the result says
    whether the services accept the password now.
  - A passwd-file hash is verified with passlib and rewritten only when verification fails
    (a random salt would otherwise make every run "changed").
  - Nothing is written unless every non-probe store was read successfully and every rule of
    the stores' formats holds for O(secret) (see O(stores)). Nothing is written either while a
    stale copy will not be written (a drifted O(stores[].readonly=true) store, or a missing one
    without O(stores[].create=true)), because the run could not end in parity, and rewriting the other
    copies would only move the split. Check mode still names the copies a run would rewrite
    once that copy is fixed by whoever writes it, so C(--check --diff) shows the whole
    remediation of a playbook in which that writer runs first. Stores that live in the same file
    (two keys of one ini file, two users of one passwd-file) are edited on one copy of the
    file, which is written once. Each write goes through a temporary file and a rename, and
    keeps the file's owner, group and mode; a symbolic link is kept and its target written.
  - After the writes every store is read back from disk and verified; only then is it
    reported rewritten. A store that does not hold O(secret) afterwards is an error.
  - In check mode the module reports exactly which stores it would rewrite and writes
    nothing, so C(ansible-playbook --check --diff) is a drift report. The diff names the
    stores and keys, never a value.
  - The module fails when a store cannot be read or probed, and (outside check mode) when
    the stores are still not in parity after the rewrites, for example because a drifted
    store is O(stores[].readonly=true), a missing one lacks O(stores[].create=true), or a
    live service still rejects the password.
  - A file holding a copy that is group- or world-writable or world-readable gets a warning
    naming its path and mode (an error with O(insecure_files=fail)).
  - The result never contains a secret, a hash, or anything derived from one.
author:
  - imip.server developers (@imip-server)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - imip.server.attributes
  - imip.server.parity_stores
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff names each store that is (or would be) rewritten, with its file and key; values are hidden.
  idempotent:
    support: full
  platform:
    platforms: posix
options:
  secret:
    description:
      - The password every store must hold.
    type: str
    required: true
requirements:
  - passlib (libpass) on the managed host, for V(passwd_file) stores
seealso:
  - module: imip.server.password_parity_info
    description: Reports drift without writing, and audits the stores without a secret.
  - module: imip.server.keychain_item
    description: Keeps one secret in the host's keychain.
"""

EXAMPLES = r"""
# A rotation: set the new password in the vault, then one run rewrites every copy (both keys of
# gateway.ini are edited together and the file is written once), verifies each copy read back
# from disk, and logs in with the new password. A second run changes nothing.
- name: Keep every copy of the invitation password in parity
  imip.server.password_parity:
    secret: "{{ vault_imip_invitation_password }}"
    stores:
      - name: keychain-smtp
        type: keychain
        item: imip-gateway.smtp
        create: true
      - name: gateway-smtp
        type: ini
        path: /etc/imip-gateway/gateway.ini
        section: smtp
        key: password
      - name: gateway-imap
        type: ini
        path: /etc/imip-gateway/gateway.ini
        section: imap
        key: password
      - name: dovecot-user
        type: passwd_file
        path: /etc/dovecot/users
        user: calendar-invites@example.test
        scheme: ARGON2ID
      - name: live-smtp
        type: probe_smtp
        host: mail.example.test
        port: 587
        username: calendar-invites@example.test
        ca_path: /usr/local/share/ca-certificates/imip-lab-ca.crt
      - name: live-imap
        type: probe_imap
        host: mail.example.test
        username: calendar-invites@example.test

# ansible-playbook site.yml --check --diff then prints, for a drifted SMTP copy:
#   --- before: gateway-smtp (/etc/imip-gateway/gateway.ini [smtp] key password)
#   +++ after: gateway-smtp (/etc/imip-gateway/gateway.ini [smtp] key password)
#   -gateway-smtp: (hidden: drifted value)
#   +gateway-smtp: (hidden: the password)
"""

RETURN = r"""
in_parity:
  description:
    - V(true) when, at the end of the run, every store holds O(secret) (stores rewritten in
      this run count; in check mode nothing is rewritten, so drift makes it V(false)).
  returned: always
  type: bool
  sample: true
drifted:
  description:
    - Names of the stores found holding another value (status V(drift)), including those
      that were rewritten in this run.
  returned: always
  type: list
  elements: str
  sample: [gateway-smtp]
stores:
  description: One entry per store, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The store's name.
      type: str
      returned: always
      sample: gateway-smtp
    type:
      description: The store's type.
      type: str
      returned: always
      sample: ini
    status:
      description:
        - What the store held before any rewrite, V(match), V(drift), V(missing) or V(error).
          For probes, the result of the login after the rewrites.
        - A store whose rewrite failed, or that does not hold O(secret) when it is read back
          after the writes, has V(error).
      type: str
      returned: always
      sample: drift
    writable:
      description: Whether this store may be rewritten (not a probe, not O(stores[].readonly)).
      type: bool
      returned: always
      sample: true
    changed:
      description: Whether the store was rewritten or created (in check mode, would be).
      type: bool
      returned: always
      sample: true
    msg:
      description: What was found and done, without any value.
      type: str
      returned: always
      sample: /etc/imip-gateway/gateway.ini [smtp] key password holds a different value; rewritten
"""

from ansible_collections.imip.server.plugins.module_utils.parity import module as _parity_module


def main():
    _parity_module.main(rewrite=True)


if __name__ == "__main__":
    main()
