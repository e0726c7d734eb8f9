#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dovecot_passwd_file
short_description: Manage a whole Dovecot passwd-file holding exactly the given users
version_added: 0.1.0
description:
  - Writes a Dovecot passwd-file with one C(address:{SCHEME}hash) line per user of O(users), in
    that order, and nothing else; lines of users not listed are removed.
  - A stored hash is verified with passlib, never compared as a string, and kept while it
    verifies against the user's password, whatever its scheme; only a hash that does not verify
    (or cannot be verified) is rewritten, with the user's scheme. Random salts therefore do not
    make every run "changed".
  - The file is replaced through a temporary file and a rename; it keeps (or gets) O(owner),
    O(group) and O(mode).
  - In check mode nothing is written and no new hash is made; the result names the users that
    would be added, removed or rehashed. The diff shows user names only, never a hash or a
    password.
  - The file is read with the passwd-file parser of M(imip.server.password_parity), so a
    V(passwd_file) store of that module on the same path and user agrees with this module.
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
    details: The diff lists the users before and after, with placeholders instead of hashes.
  idempotent:
    support: full
  platform:
    platforms: posix
options:
  path:
    description:
      - The passwd-file. Its directory must exist.
    type: path
    required: true
  users:
    description:
      - Every user the file holds, in the order of the file. An empty list empties the file.
    type: list
    elements: dict
    required: true
    suboptions:
      address:
        description:
          - The user name (for a mail account its address), exactly as Dovecot looks it up;
            no V(:), white space or control characters. Each address may appear once.
        type: str
        required: true
      password:
        description:
          - The password in plain text (for example from Ansible Vault); never logged or returned.
        type: str
        required: true
      scheme:
        description:
          - Dovecot password scheme of this user's new hash; default O(scheme).
        type: str
  scheme:
    description:
      - Dovecot password scheme of new hashes, one of V(ARGON2I), V(ARGON2ID), V(BLF-CRYPT),
        V(PLAIN), V(SHA256-CRYPT), V(SHA512-CRYPT), V(SSHA256), V(SSHA512) (the list the roles
        check their scheme variables against, with P(imip.server.dovecot_scheme_errors#filter)).
      - BLF-CRYPT uses only the first 72 bytes of a password; a longer password is refused
        before anything is written.
      - SHA512-CRYPT and SHA256-CRYPT are written with 5000 rounds, Dovecot's own default
        (every login pays the hash cost).
    type: str
    default: SHA512-CRYPT
  owner:
    description:
      - Owner of the file. Without it an existing file keeps its owner, and a new one gets the
        user Ansible runs as.
    type: str
  group:
    description:
      - Group of the file (for Dovecot typically V(dovecot)). Without it, as for O(owner).
    type: str
  mode:
    description:
      - Mode of the file, octal (V('0640')) or symbolic. Without it an existing file keeps its
        mode, and a new one gets V('0600').
    type: raw
requirements:
  - passlib (libpass, or Debian's python3-passlib) on the managed host, to verify and make
    hashes (plus python3-bcrypt for BLF-CRYPT, python3-argon2 for ARGON2I/ARGON2ID). Not needed
    in check mode while the file does not exist.
seealso:
  - module: imip.server.password_parity
    description: Keeps one password in parity across its copies, including one passwd-file user.
  - name: Dovecot passwd-file
    description: The file format.
    link: https://doc.dovecot.org/2.3/configuration_manual/authentication/passwd_file/
"""

EXAMPLES = r"""
- name: Write the mail accounts' passwd-file
  imip.server.dovecot_passwd_file:
    path: /etc/dovecot/imip.passwd
    owner: root
    group: dovecot
    mode: "0640"
    users:
      - address: alice@example.test
        password: "{{ vault_imip_mail_alice_password }}"
      - address: calendar-invites@example.test
        password: "{{ vault_imip_invitation_password }}"
        scheme: ARGON2ID
  no_log: true

# ansible-playbook --check --diff then prints, for a hash changed behind Ansible's back:
#   --- before: /etc/dovecot/imip.passwd
#   +++ after: /etc/dovecot/imip.passwd
#   -alice@example.test:<hash that does not verify>
#   +alice@example.test:<new hash>
#    calendar-invites@example.test:<hash>
"""

RETURN = r"""
added:
  description: Users that were not in the file and were (in check mode, would be) added.
  returned: always
  type: list
  elements: str
  sample: [alice@example.test]
removed:
  description: Users of the file that are not in O(users) and were (would be) removed.
  returned: always
  type: list
  elements: str
  sample: [bob@example.test]
rehashed:
  description: Users whose stored hash did not verify (or could not be verified) and was (would be) rewritten.
  returned: always
  type: list
  elements: str
  sample: []
path:
  description: The passwd-file.
  returned: always
  type: str
  sample: /etc/dovecot/imip.passwd
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh
from ansible_collections.imip.server.plugins.module_utils import _dovecot_passwd as dp


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            users=dict(type="list", elements="dict", required=True, options=dict(
                address=dict(type="str", required=True),
                password=dict(type="str", required=True, no_log=True),
                scheme=dict(type="str"),
            )),
            scheme=dict(type="str", default=dp.DEFAULT_SCHEME),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="raw"),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    result = dict(changed=False, path=path, added=[], removed=[], rehashed=[])
    try:
        users = dp.check_users(module.params["users"], module.params["scheme"])
        existing = dp.read_file(path)
        plan = dp.plan(path, existing, users, hash_new=not module.check_mode)
        if plan.content_changed and not module.check_mode:
            dp.write(path, plan.text)
    except dp.PasslibMissing as exc:
        module.fail_json(msg="%s %s" % (missing_required_lib("passlib"), exc), exception=dh.PASSLIB_IMPORT_ERROR, **result)
    except dp.PasswdError as exc:
        module.fail_json(msg=str(exc), **result)
    for warning in plan.warnings:
        module.warn(warning)
    result.update(added=plan.added, removed=plan.removed, rehashed=plan.rehashed, changed=plan.content_changed)

    diffs = [plan.diff] if plan.content_changed else []
    exists = existing is not None or (plan.content_changed and not module.check_mode)
    if exists:
        attributes = dict(before={}, after={})
        file_args = module.load_file_common_arguments(
            dict(path=path, owner=module.params["owner"], group=module.params["group"], mode=module.params["mode"]))
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"], diff=attributes)
        if attributes["before"] or attributes["after"]:
            diffs.append(dict(attributes, before_header=path, after_header=path))
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
