#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: keychain_item
short_description: Keep one secret in the host's keychain
version_added: 0.1.0
description:
  - Keeps one secret in the host's keychain, encrypted with C(systemd-creds) by default, or
    in a root-only file store where C(systemd-creds) is not available.
  - With O(backend=systemd_creds) the item is C(PATH/NAME.cred), encrypted with
    C(systemd-creds encrypt --name=NAME) (host key, and TPM2 where present). A unit reads it
    with C(LoadCredentialEncrypted=NAME:/etc/credstore.encrypted/NAME.cred) and finds the
    secret in C($CREDENTIALS_DIRECTORY/NAME).
  - With O(backend=file) the item is C(PATH/NAME), holding the secret itself, mode 0600 in a
    directory of mode 0700.
  - O(account) is kept next to the item in C(PATH/NAME.meta), a mode 0600 JSON file
    with the key C(account), so listings show whose secret an item is.
  - Idempotent. An encrypted item is decrypted and compared, and never re-encrypted when the
    value is the same. The secret travels through stdin and stdout of C(systemd-creds),
    never through process arguments. Writes go through a temporary file and a rename.
  - Nothing returned tells the secret's length (no file size, no stats).
  - O(state=query) changes nothing and reads no secret - it says where the item is stored and
    the line a systemd unit loads it with (RV(credential)), so that a role needs no copy of the
    keychain's paths.
author:
  - imip.server developers (@imip-server)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - imip.server.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff says whether the secret would be added or changed, never what it is.
  idempotent:
    support: full
  platform:
    platforms: posix
options:
  name:
    description:
      - Item name, for example V(imip-gateway.smtp). Letters, digits and C(. _ @ + -), not
        starting with a dot and not ending in C(.meta).
    type: str
    required: true
  account:
    description:
      - The account the secret belongs to, for example V(calendar-invites@example.test).
        Metadata only, kept in C(PATH/NAME.meta).
      - When left out, existing metadata is kept as it is.
    type: str
  secret:
    description:
      - The secret. Required with O(state=present).
      - A trailing line break is not part of a secret; a secret must not contain line breaks.
    type: str
  state:
    description:
      - V(present) stores O(secret); V(absent) removes the item and its metadata.
      - V(query) only looks where the item is stored - with O(backend=auto) in the C(systemd_creds)
        store first, then in the C(file) store - and returns RV(found), RV(item_path), RV(backend)
        and RV(credential).
    type: str
    choices: [present, absent, query]
    default: present
  backend:
    description:
      - V(auto) uses V(systemd_creds) where the C(systemd-creds) binary exists (systemd 250
        or later), else V(file).
    type: str
    choices: [auto, systemd_creds, file]
    default: auto
  path:
    description:
      - Store directory. Default C(/etc/credstore.encrypted) for V(systemd_creds) and
        C(/etc/imip/keychain) for V(file). A missing directory is created with mode 0700.
    type: path
notes:
  - C(systemd-creds) on a host without TPM2 creates the host key
    C(/var/lib/systemd/credential.secret) on first use and warns when it is not on encrypted
    media; the warning is not an error.
seealso:
  - module: imip.server.password_parity
    description: Keeps every copy of a password, keychain items included, in parity.
  - name: systemd-creds(1)
    description: The tool behind the default backend.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd-creds.html
"""

EXAMPLES = r"""
- name: Keep the gateway's SMTP password in the keychain
  imip.server.keychain_item:
    name: imip-gateway.smtp
    account: calendar-invites@example.test
    secret: "{{ vault_imip_invitation_password }}"

- name: Use the root-only file store (hosts without systemd-creds)
  imip.server.keychain_item:
    name: imip-gateway.imap
    account: calendar-invites@example.test
    secret: "{{ vault_imip_invitation_password }}"
    backend: file

- name: Remove an item that is no longer used
  imip.server.keychain_item:
    name: imip-gateway.old
    state: absent

- name: Find how a unit loads an item
  imip.server.keychain_item:
    name: imip-gateway.smtp
    state: query
  register: smtp_item
# smtp_item.credential: LoadCredentialEncrypted=imip-gateway.smtp:/etc/credstore.encrypted/imip-gateway.smtp.cred
"""

RETURN = r"""
backend:
  description: The backend used (V(auto) resolved).
  returned: always
  type: str
  sample: systemd_creds
item_path:
  description:
    - Path of the item's file.
    - Not called C(path) on purpose - Ansible adds the stats of a returned C(path) to the
      result, and the size of the item's file gives away the length of the secret.
  returned: always
  type: str
  sample: /etc/credstore.encrypted/imip-gateway.smtp.cred
found:
  description: Whether the item is stored (with O(state=query), in the store RV(backend) names).
  returned: when O(state=query)
  type: bool
  sample: true
credential:
  description:
    - The unit's line that loads the item as a credential of the same name - C(LoadCredentialEncrypted=)
      for V(systemd_creds), C(LoadCredential=) for V(file); empty when the item is not found.
  returned: when O(state=query)
  type: str
  sample: LoadCredentialEncrypted=imip-gateway.smtp:/etc/credstore.encrypted/imip-gateway.smtp.cred
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imip.server.plugins.module_utils import _keychain


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            account=dict(type="str"),
            secret=dict(type="str", no_log=True),
            state=dict(type="str", choices=["present", "absent", "query"], default="present"),
            backend=dict(type="str", choices=["auto", "systemd_creds", "file"], default="auto"),
            path=dict(type="path"),
        ),
        required_if=[("state", "present", ("secret",))],
        supports_check_mode=True,
    )
    params = module.params
    if params["state"] == "query":
        try:
            located = _keychain.locate_item(params["name"], params["backend"], params["path"])
        except _keychain.KeychainError as exc:
            module.fail_json(msg=str(exc))
        module.exit_json(changed=False, **located)
    secret = params["secret"]
    if secret is not None:
        if "\n" in secret.rstrip("\r\n") or "\r" in secret.rstrip("\r\n") or "\0" in secret:
            module.fail_json(msg="secret must not contain line breaks or NUL characters")
        secret = secret.rstrip("\r\n")
        if params["state"] == "present" and not secret:
            module.fail_json(msg="secret is empty")
    try:
        _keychain.check_name(params["name"])
        keychain = _keychain.Keychain(
            params["backend"], params["path"],
            systemd_creds_bin=module.get_bin_path("systemd-creds"),
            run=_keychain.module_runner(module),
        )
        plan = _keychain.plan_item(keychain, params["name"], secret, params["account"], params["state"])
        changed = bool(plan["changes"])
        if changed and not module.check_mode:
            _keychain.apply_item(keychain, params["name"], secret, params["account"], params["state"], plan)
    except _keychain.KeychainError as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=changed, backend=plan["backend"], item_path=plan["path"])
    if module._diff:
        result["diff"] = plan["diff"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
