#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: file_states_info
short_description: Read what several files are (type, mode, owner, group, checksum) in one run
version_added: 0.1.0
description:
  - Returns, for each path of O(paths), whether it exists and, when it does, its type, mode, owner
    and group, and for a regular file the SHA-1 checksum of its content (the one
    M(ansible.builtin.stat) returns). Links are not followed.
  - One module run for many paths, where M(ansible.builtin.stat) needs one per path. The action
    M(imip.server.files) uses it to find the files that differ before it writes anything.
author:
  - imip.server developers (@imip-server)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - imip.server.attributes
  - imip.server.attributes.info_module
attributes:
  idempotent:
    support: full
  platform:
    platforms: posix
options:
  paths:
    description:
      - Absolute paths on the host.
    type: list
    elements: path
    required: true
seealso:
  - module: ansible.builtin.stat
  - module: imip.server.files
"""

EXAMPLES = r"""
- name: Read the Postfix configuration files
  imip.server.file_states_info:
    paths: [/etc/postfix/main.cf, /etc/postfix/master.cf]
  register: postfix_files
"""

RETURN = r"""
files:
  description: Each path of O(paths) with what it is.
  returned: always
  type: dict
  sample:
    /etc/postfix/main.cf:
      exists: true
      type: file
      mode: "0644"
      owner: root
      group: root
      checksum: 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed
    /etc/postfix/missing.cf:
      exists: false
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.imip.server.plugins.module_utils._file_states import file_state


def main():
    module = AnsibleModule(
        argument_spec=dict(paths=dict(type="list", elements="path", required=True)),
        supports_check_mode=True,
    )
    relative = [path for path in module.params["paths"] if not os.path.isabs(path)]
    if relative:
        module.fail_json(msg="paths: expected absolute paths, got %s" % ", ".join(relative))
    files = {}
    for path in module.params["paths"]:
        try:
            files[path] = file_state(path)
        except OSError as error:
            module.fail_json(msg="cannot read %s: %s" % (path, error.strerror or error))
    module.exit_json(changed=False, files=files)


if __name__ == "__main__":
    main()
