# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters over the collection's Dovecot scheme table (plugins/module_utils/_dovecot_hash.py).

The roles check their scheme variables here, on the controller and before anything is
installed, against the same list the modules write with: one list of Dovecot schemes for the
whole collection; and the mail role's accounts as the passwd-file module takes them.
Documentation: the sidecar files dovecot_scheme_errors.yml and dovecot_passwd_users.yml.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# The helpers in plugins/module_utils are imported when a filter runs, not when this file loads:
# to resolve one imip.server filter name, Ansible loads every filter file of the collection in
# each task's worker process (a fresh fork per task and host), so a top-level import was paid by
# every task that used any of them (docs/performance.md).


def dovecot_scheme_errors(value, variable):
    """One message per scheme in `value` that no hash can be written with, naming `variable`."""
    from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash

    if not isinstance(variable, str) or not variable:
        raise AnsibleFilterError("dovecot_scheme_errors: give the variable's name, e.g. dovecot_scheme_errors('imip_mail_users')")
    if value is not None and not isinstance(value, str):
        if isinstance(value, Mapping) or not all(isinstance(item, Mapping) for item in value):
            raise AnsibleFilterError("dovecot_scheme_errors: %s must be a scheme name or a list of dicts" % variable)
    return _dovecot_hash.scheme_errors(value, variable)


def dovecot_passwd_users(accounts):
    """The accounts as imip.server.dovecot_passwd_file's users: address in lower case (Dovecot
    looks users up as %Lu), password, and scheme (None: the module's default)."""
    if isinstance(accounts, (str, Mapping)) or accounts is None:
        raise AnsibleFilterError("dovecot_passwd_users expects a list of accounts, got %s" % type(accounts).__name__)
    users = []
    for account in accounts:
        if not isinstance(account, Mapping) or not isinstance(account.get("address"), str):
            # Never the account itself in the message: it holds a password.
            raise AnsibleFilterError("dovecot_passwd_users: every account needs an address (a string)")
        users.append({"address": account["address"].lower(), "password": account.get("password"),
                      "scheme": account.get("scheme")})
    return users


class FilterModule(object):
    """imip.server's Dovecot filters."""

    def filters(self):
        return {"dovecot_scheme_errors": dovecot_scheme_errors, "dovecot_passwd_users": dovecot_passwd_users}
