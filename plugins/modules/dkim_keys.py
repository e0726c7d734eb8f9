#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dkim_keys
short_description: Keep the DKIM signing keys of a mail host, one file per selector, and return their DNS records
version_added: 0.1.0
description:
  - Keeps one RSA private key file C(<selector>.key) per selector of O(selectors) in O(directory)
    and returns the DKIM key record (C(v=DKIM1; k=rsa; p=...)) of each, for the dns role to publish
    at C(<selector>._domainkey.<domain>).
  - A selector's key comes from O(keys) when given there (for example from Ansible Vault; the file
    is rewritten when it differs), else the key already in its file is kept, else a new key of
    O(bits) bits is made on the host. A file that holds no usable key is replaced by a new key,
    with a warning.
  - Key files of selectors that are no longer listed are removed when O(retire=true) (the last
    step of a rotation, after the old record has left DNS).
  - Files are written through a temporary file and a rename, mode C(0600), owned by O(owner)
    and O(group) (the signer's user, which must be the only one to read them).
  - Every selector and every given key is checked before any file is written.
  - In check mode nothing is written; a key that would be made has no record yet (it is left out
    of RV(public_keys)).
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
    details: The diff lists selectors whose key would be made, replaced or removed, never a key.
  idempotent:
    support: full
  platform:
    platforms: posix
options:
  directory:
    description:
      - The directory of the key files. It is made when missing (C(0750), root and O(group)); its
        parent must exist.
    type: path
    required: true
  selectors:
    description:
      - Every selector that has a key - the one that signs and, during a rotation, the one before
        or after it. Each a DNS label.
    type: list
    elements: str
    required: true
  keys:
    description:
      - Private keys given from outside, by selector, in PEM (PKCS#1 or PKCS#8), RSA, 1024 to 4096
        bits. Never logged or returned.
    type: dict
    default: {}
  bits:
    description:
      - Size of the keys made on the host.
    type: int
    default: 2048
  owner:
    description:
      - Owner of the key files (the signer's user).
    type: str
    required: true
  group:
    description:
      - Group of the key files.
    type: str
    required: true
  retire:
    description:
      - Remove the key files (C(*.key)) of selectors not in O(selectors).
    type: bool
    default: true
requirements:
  - The openssl command on the managed host.
seealso:
  - name: RFC 6376, DomainKeys Identified Mail (DKIM) Signatures
    description: The key record (section 3.6.1).
    link: https://www.rfc-editor.org/rfc/rfc6376
"""

EXAMPLES = r"""
- name: Keep the DKIM keys of the signer
  imip.server.dkim_keys:
    directory: /etc/dkimpy-milter/keys
    selectors: [imip1]
    keys: "{{ vault_dkim_keys | default({}) }}"
    owner: dkimpy-milter
    group: dkimpy-milter
  register: dkim

- name: Show the records to publish
  ansible.builtin.debug:
    msg: "{{ item.key }}._domainkey IN TXT \"{{ item.value }}\""
  loop: "{{ dkim.public_keys | dict2items }}"
"""

RETURN = r"""
public_keys:
  description: The DKIM key record of each selector whose key exists (or is given), by selector.
  returned: always
  type: dict
  sample: {imip1: "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA..."}
made:
  description: Selectors whose key was (in check mode, would be) made on the host.
  returned: always
  type: list
  elements: str
replaced:
  description: Selectors whose file was (would be) rewritten with the given key or a new one.
  returned: always
  type: list
  elements: str
retired:
  description: Selectors whose key file was (would be) removed.
  returned: always
  type: list
  elements: str
owner_fixed:
  description: Selectors whose kept key file had another owner, group or mode and was (would be) given O(owner), O(group) and C(0600).
  returned: always
  type: list
  elements: str
"""

import os
import pwd
import grp

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imip.server.plugins.module_utils import _dkim_keys as dk
from ansible_collections.imip.server.plugins.module_utils._fileio import atomic_write, os_reason


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _inputs(module, run):
    """(uid, gid, {selector: (pem, der)} of the given keys): every input checked, and every given
    key read, before anything is written; fails the module with all problems at once."""
    p = module.params
    directory, selectors, given = p["directory"], p["selectors"], p["keys"] or {}
    errors = dk.selector_errors(selectors, given)
    if not dk.MIN_BITS <= p["bits"] <= dk.MAX_BITS:
        errors.append("bits is %d: from %d to %d are accepted" % (p["bits"], dk.MIN_BITS, dk.MAX_BITS))
    # Under --check on a fresh host the signer's package (its directory, its user) is not
    # installed yet: every key would be made.
    if not os.path.isdir(os.path.dirname(directory.rstrip("/")) or "/") and not module.check_mode:
        errors.append("the parent of directory %s does not exist" % directory)
    try:
        uid, gid = pwd.getpwnam(p["owner"]).pw_uid, grp.getgrnam(p["group"]).gr_gid
    except KeyError:
        uid = gid = None
        if not module.check_mode:
            errors.append("owner %s or group %s does not exist on the host" % (p["owner"], p["group"]))

    wanted = {}
    for selector in selectors:
        if selector in given:
            pem = (given[selector] or "").strip().encode("utf-8") + b"\n"
            try:
                wanted[selector] = (pem, dk.public_der(pem, run))
            except dk.DkimKeyError as exc:
                errors.append("keys[%s] is not a usable DKIM key: %s" % (selector, exc))
    if errors:
        module.fail_json(msg="; ".join(errors))
    return uid, gid, wanted


def _plan_keys(module, wanted, run, result):
    """{selector: pem to write}: the given keys that differ from the files, and a new key for each
    selector without a usable one (not made under --check); result's made, replaced and
    public_keys filled in."""
    directory, writes = module.params["directory"], {}
    for selector in module.params["selectors"]:
        path = os.path.join(directory, selector + ".key")
        current = _read(path)
        if selector in wanted:
            pem, der = wanted[selector]
            if current is None or current.strip() != pem.strip():
                writes[selector] = pem
                (result["replaced"] if current is not None else result["made"]).append(selector)
            result["public_keys"][selector] = dk.txt_record(der)
            continue
        if current is not None:
            try:
                result["public_keys"][selector] = dk.txt_record(dk.public_der(current, run))
                continue
            except dk.DkimKeyError as exc:
                module.warn("%s holds no usable DKIM key (%s): a new key replaces it" % (path, exc))
                result["replaced"].append(selector)
        else:
            result["made"].append(selector)
        if module.check_mode:
            continue
        try:
            pem = dk.generate(module.params["bits"], run)
            writes[selector] = pem
            result["public_keys"][selector] = dk.txt_record(dk.public_der(pem, run))
        except dk.DkimKeyError as exc:
            module.fail_json(msg="cannot make a DKIM key for selector %s: %s" % (selector, exc))
    return writes


def _stale(directory, selectors, retire):
    """The selectors of key files no selector names any more (removed when retire is on)."""
    if not retire or not os.path.isdir(directory):
        return []
    return sorted(name[:-4] for name in os.listdir(directory) if name.endswith(".key") and name[:-4] not in selectors)


def _loose(directory, selectors, writes, uid, gid):
    """Kept key files whose owner or mode drifted (they get 0600 and the signer's user back)."""
    loose = []
    for selector in selectors:
        path = os.path.join(directory, selector + ".key")
        if selector in writes or not os.path.exists(path):
            continue
        st = os.stat(path)
        if uid is not None and (st.st_uid, st.st_gid, st.st_mode & 0o777) != (uid, gid, 0o600):
            loose.append(selector)
    return loose


def _diff(directory, selectors, result, stale):
    before = ["%s: key" % s for s in selectors if s not in result["made"]] + ["%s: key" % s for s in stale]
    after = ["%s: %s" % (s, "new key" if s in result["made"] + result["replaced"] else "key") for s in selectors]
    return dict(before="\n".join(sorted(before)) + "\n", after="\n".join(sorted(after)) + "\n",
                before_header=directory, after_header=directory)


def _apply(module, made_directory, writes, loose, stale, uid, gid):
    """Make the directory, write the keys, fix the owners, remove the retired keys."""
    directory = module.params["directory"]
    if made_directory:
        try:
            os.mkdir(directory, 0o750)
            os.chown(directory, -1, gid)
            os.chmod(directory, 0o750)
        except OSError as exc:
            module.fail_json(msg="cannot make directory %s: %s" % (directory, os_reason(exc)))
    for selector, pem in writes.items():
        path = os.path.join(directory, selector + ".key")
        try:
            # A new file is made 0600 by the caller (root), then handed to the signer.
            if os.path.exists(path):
                os.chmod(path, 0o600)
                os.chown(path, uid, gid)
            written = atomic_write(path, pem, new_mode=0o600)
            os.chown(written, uid, gid)
        except OSError as exc:
            module.fail_json(msg="cannot write %s: %s" % (path, os_reason(exc)))
    for selector in loose:
        path = os.path.join(directory, selector + ".key")
        os.chown(path, uid, gid)
        os.chmod(path, 0o600)
    for selector in stale:
        try:
            os.unlink(os.path.join(directory, selector + ".key"))
        except OSError as exc:
            module.fail_json(msg="cannot remove the retired key of %s: %s" % (selector, os_reason(exc)))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directory=dict(type="path", required=True),
            selectors=dict(type="list", elements="str", required=True),
            keys=dict(type="dict", default={}, no_log=True),
            bits=dict(type="int", default=2048),
            owner=dict(type="str", required=True),
            group=dict(type="str", required=True),
            retire=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params

    def run(argv, data):
        # Keys travel through stdin and stdout only, never an argument; binary both ways.
        return module.run_command(argv, data=data, binary_data=True, encoding=None)

    directory, selectors = p["directory"], p["selectors"]
    uid, gid, wanted = _inputs(module, run)
    result = dict(changed=False, public_keys={}, made=[], replaced=[], retired=[])
    made_directory = not os.path.isdir(directory)
    writes = _plan_keys(module, wanted, run, result)
    stale = result["retired"] = _stale(directory, selectors, p["retire"])
    loose = result["owner_fixed"] = _loose(directory, selectors, writes, uid, gid)
    result["changed"] = bool(made_directory or result["made"] or result["replaced"] or stale or loose)
    if module._diff:
        result["diff"] = _diff(directory, selectors, result, stale)
    if not module.check_mode:
        _apply(module, made_directory, writes, loose, stale, uid, gid)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
