#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: files
short_description: Write a role's files and directories in one task, one module run when all are in place
version_added: 0.1.0
description:
  - Writes each entry of O(files), each either a file from a template (O(files[].src), as
    M(ansible.builtin.template)), a file with the given O(files[].content) (as
    M(ansible.builtin.copy)), or a directory (O(files[].state=directory), as M(ansible.builtin.file)).
  - Templates are rendered on the controller and every path is read in one run of
    M(imip.server.file_states_info). An entry whose content, type, and mode, owner and group where
    given, are already right is left alone without any further module run. Every other entry is
    handed to the builtin named above, which writes it atomically, runs its
    O(files[].validate) command first, shows the diff and honours check mode as it always does.
  - A drift run, which finds everything in place, so costs one module run per task instead of two
    per file and one per directory.
  - The task changes when any entry changed; handlers notified by the task run then. Entries that
    need different handlers belong in different tasks, or the handler reads the registered
    RV(files) to see which changed.
  - A file whose content is secret belongs in a task of its own with C(no_log) and C(diff) off,
    as with the builtins.
  - This is an action plugin; the module file holds its documentation.
author:
  - imip.server developers (@imip-server)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - imip.server.attributes
attributes:
  check_mode:
    support: full
    details: Entries that differ are reported, as by the builtins, and not written.
  diff_mode:
    support: full
    details: The builtins' diffs, one per written entry.
  idempotent:
    support: full
  platform:
    platforms: posix
options:
  files:
    description:
      - The files and directories to write or create, in this order (a directory before what it
        holds). An empty list does nothing.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description:
          - The absolute path on the host. Each path at most once per task.
        type: path
        required: true
      state:
        description:
          - V(file) writes a file from O(files[].src) or O(files[].content); V(directory) makes sure
            a directory exists.
        type: str
        choices: [file, directory]
        default: file
      src:
        description:
          - The template, found as M(ansible.builtin.template) finds it (a role's C(templates/)).
          - A file needs exactly one of O(files[].src) and O(files[].content).
        type: path
      content:
        description:
          - The file's content as it is, written as M(ansible.builtin.copy) writes its C(content).
          - A file needs exactly one of O(files[].src) and O(files[].content).
        type: str
      owner:
        description:
          - As for the builtins; overrides O(owner).
        type: str
      group:
        description:
          - As for the builtins; overrides O(group).
        type: str
      mode:
        description:
          - As for the builtins, a quoted string; overrides O(mode). A symbolic mode works, but such
            an entry is always handed to its builtin to judge.
        type: str
      validate:
        description:
          - For a file, as M(ansible.builtin.template) (C(%s) is the new file); runs only when the
            file is written.
        type: str
      force:
        description:
          - For a file, as for M(ansible.builtin.template), V(false) writes it only when it is missing
            and then leaves it alone (its content belongs to someone else afterwards).
        type: bool
        default: true
  owner:
    description:
      - The owner of every entry that does not name its own.
    type: str
  group:
    description:
      - The group of every entry that does not name its own.
    type: str
  mode:
    description:
      - The mode of every entry that does not name its own, a quoted string such as C('0644').
    type: str
seealso:
  - module: ansible.builtin.template
  - module: ansible.builtin.copy
  - module: ansible.builtin.file
  - module: imip.server.file_states_info
"""

EXAMPLES = r"""
- name: Write the Postfix configuration and tables
  imip.server.files:
    owner: root
    group: root
    mode: "0644"
    files:
      - {path: /etc/postfix/imip, state: directory, mode: "0755"}
      - {src: etc/postfix/imip/virtual_mailboxes.j2, path: /etc/postfix/imip/virtual_mailboxes}
      - {src: etc/postfix/main.cf.j2, path: /etc/postfix/main.cf}
  notify: Reload postfix

- name: Write the BIND options, checked before they are installed
  imip.server.files:
    files:
      - src: etc/bind/named.conf.options.j2
        path: /etc/bind/named.conf.options
        group: bind
        mode: "0644"
        validate: named-checkconf %s
"""

RETURN = r"""
files:
  description:
    - Each entry of O(files), in order, whether this task changed it, and whether it was handed to
      its builtin (C(handed_on)) or found in place without it.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /etc/postfix/main.cf
      changed: false
      handed_on: false
    - path: /etc/postfix/master.cf
      changed: true
      handed_on: true
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", required=True, options=dict(
                path=dict(type="path", required=True),
                state=dict(type="str", choices=["file", "directory"], default="file"),
                src=dict(type="path"),
                content=dict(type="str"),
                owner=dict(type="str"),
                group=dict(type="str"),
                mode=dict(type="str"),
                validate=dict(type="str"),
                force=dict(type="bool", default=True),
            )),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    module.fail_json(msg="imip.server.files runs as an action plugin on the controller; "
                         "this module file only documents it")


if __name__ == "__main__":
    main()
