# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    # The `idempotent` attribute (ansible.builtin.action_common_attributes has no such entry);
    # worded as in community.general's `attributes` fragment.
    DOCUMENTATION = r"""
attributes:
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second
        invocation indicates no change.
      - This assumes that the system controlled or queried by the module has not changed in
        a relevant way.
"""

    # For *_info modules, as community.general's `attributes.info_module`.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
"""
