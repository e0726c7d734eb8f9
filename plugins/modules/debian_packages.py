#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: debian_packages
short_description: Make sure Debian packages are installed, asking apt only for those that are not
version_added: 0.1.0
description:
  - Installs the packages of O(name) that are missing, like M(ansible.builtin.apt) with
    C(state=present), and does nothing else.
  - The installed packages are read once per host and run (C(dpkg-query) over the connection, kept
    as the host's fact C(packages) in the shape M(ansible.builtin.package_facts) gives it) and each
    task compares its names with that list on the controller, so a run that finds everything in
    place costs no module run on the host. After apt installed something the list is read again.
  - A name that is not a plain package name (a version pin C(name=1.0), a wildcard, an
    architecture, a C(.deb) file) is always handed to apt, which alone can judge it.
  - This is an action plugin; the module file holds its documentation.
author:
  - imip.server developers (@imip-server)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - imip.server.attributes
attributes:
  check_mode:
    support: full
    details: Reports what apt would install and installs nothing.
  diff_mode:
    support: full
    details: As M(ansible.builtin.apt).
  idempotent:
    support: full
  platform:
    platforms: debian
options:
  name:
    description:
      - The packages that must be installed.
    type: list
    elements: str
    required: true
  install_recommends:
    description:
      - Passed to M(ansible.builtin.apt) when something is missing.
    type: bool
  cache_valid_time:
    description:
      - Passed to M(ansible.builtin.apt) when something is missing.
    type: int
  update_cache:
    description:
      - Passed to M(ansible.builtin.apt) when something is missing.
    type: bool
seealso:
  - module: ansible.builtin.apt
  - module: ansible.builtin.package_facts
"""

EXAMPLES = r"""
- name: Install the mail packages
  imip.server.debian_packages:
    name: [postfix, dovecot-core]
    install_recommends: false
    cache_valid_time: 3600
"""

RETURN = r"""
missing:
  description: The names handed to apt (empty when everything was installed).
  returned: always
  type: list
  elements: str
  sample: [postgrey]
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="list", elements="str", required=True),
            install_recommends=dict(type="bool"),
            cache_valid_time=dict(type="int"),
            update_cache=dict(type="bool"),
        ),
        supports_check_mode=True,
    )
    module.fail_json(msg="imip.server.debian_packages runs as an action plugin on the controller; "
                         "this module file only documents it")


if __name__ == "__main__":
    main()
