#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: password_parity_info
short_description: Report which stored copies of a password have drifted
version_added: 0.1.0
description:
  - Compares every stored copy of one password (keychain items, ini keys, whole files,
    Dovecot passwd-file hashes) and, last, live SMTP and IMAP logins, and reports which
    copies agree. It never writes.
  - With O(secret), each store is compared with it. Without O(secret), the module audits
    the stores against each other and groups those that hold the same value; the largest
    group is presumed right, and on a tie for largest no group is (all are drifted).
  - Hashes are verified with passlib, never compared as strings.
  - A file holding a copy that is group- or world-writable or world-readable gets a warning
    naming its path and mode (O(insecure_files=fail) makes its stores errors).
  - The result never contains a secret, a hash, or anything derived from one.
  - The managed host needs the Python library passlib for V(passwd_file) stores (Debian
    package C(python3-passlib), or C(libpass) in a virtual environment).
author:
  - imip.server developers (@imip-server)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - imip.server.attributes
  - imip.server.attributes.info_module
  - imip.server.parity_stores
attributes:
  idempotent:
    support: full
  platform:
    platforms: posix
options:
  secret:
    description:
      - The password that is right. Without it the module audits the stores against each
        other.
      - In audit mode, V(passwd_file) stores and probes are tried with the values of the
        readable stores, most common first; each rejected probe login costs the server's
        failure delay.
    type: str
requirements:
  - passlib (libpass) on the managed host, for V(passwd_file) stores
seealso:
  - module: imip.server.password_parity
    description: Rewrites every drifted copy.
  - module: imip.server.keychain_item
    description: Keeps one secret in the host's keychain.
  - name: Dovecot password schemes
    description: The schemes a passwd-file hash can use.
    link: https://doc.dovecot.org/2.3/configuration_manual/authentication/password_schemes/
"""

EXAMPLES = r"""
- name: Check every copy of the invitation password against the vaulted one
  imip.server.password_parity_info:
    secret: "{{ vault_imip_invitation_password }}"
    stores:
      - name: keychain-smtp
        type: keychain
        item: imip-gateway.smtp
      - name: gateway-imap
        type: ini
        path: /etc/imip-gateway/gateway.ini
        section: imap
        key: password
      - name: dovecot-user
        type: passwd_file
        path: /etc/dovecot/users
        user: calendar-invites@example.test
      - name: live-smtp
        type: probe_smtp
        host: mail.example.test
        username: calendar-invites@example.test
  register: parity

- name: Without the secret, find the odd one out
  imip.server.password_parity_info:
    stores:
      - {name: keychain-smtp, type: keychain, item: imip-gateway.smtp}
      - {name: keychain-imap, type: keychain, item: imip-gateway.imap}
      - {name: gateway-smtp, type: ini, path: /etc/imip-gateway/gateway.ini, section: smtp, key: password}
      - {name: dovecot-user, type: passwd_file, path: /etc/dovecot/users, user: calendar-invites@example.test}
  register: audit

- name: Fail with the names of the drifted copies
  ansible.builtin.assert:
    that: audit.in_parity
    fail_msg: "Drifted copies of the invitation password: {{ audit.drifted | join(', ') }}"
"""

RETURN = r"""
in_parity:
  description:
    - V(true) when every store holds the password (with O(secret)), or when every store
      holds the same value (audit).
    - V(false) as soon as one store is drifted, missing or in error.
  returned: success
  type: bool
  sample: false
drifted:
  description:
    - Names of the stores whose status is V(drift) (they hold another value than O(secret),
      or than the majority in an audit).
  returned: success
  type: list
  elements: str
  sample: [gateway-smtp]
stores:
  description: One entry per store, in the order given.
  returned: success
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
        - V(match), V(drift), V(missing) (the file, key, user or item does not exist) or
          V(error) (cannot be read or probed; see RV(stores[].msg)).
      type: str
      returned: always
      sample: drift
    writable:
      description: Whether M(imip.server.password_parity) may rewrite this store.
      type: bool
      returned: always
      sample: true
    changed:
      description: Always V(false) here.
      type: bool
      returned: always
      sample: false
    msg:
      description: What was found, without any value.
      type: str
      returned: always
      sample: /etc/imip-gateway/gateway.ini [smtp] key password holds a different value
groups:
  description:
    - Audit mode (no O(secret)) only, otherwise empty. Names of the stores that hold the
      same value, one list per value, largest group first.
    - Stores that are missing or in error belong to no group.
  returned: success
  type: list
  elements: list
  sample: [[keychain-smtp, keychain-imap, dovecot-user], [gateway-smtp]]
"""

from ansible_collections.imip.server.plugins.module_utils.parity import module as _parity_module


def main():
    _parity_module.main(rewrite=False)


if __name__ == "__main__":
    main()
