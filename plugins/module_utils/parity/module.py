# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one `main` of password_parity and password_parity_info (private to imip.server).

Both modules take the same stores and run the same engine; they differ only in whether drift
is rewritten (and so whether the secret is required, a diff is returned and leftover drift
fails the task) and in the audit groups, which only the read-only module returns.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh
from ansible_collections.imip.server.plugins.module_utils._keychain import module_runner
from ansible_collections.imip.server.plugins.module_utils.parity import engine as _parity


def argument_spec(rewrite):
    return dict(
        stores=_parity.STORES_SPEC,
        secret=dict(type="str", required=rewrite, no_log=True),
        insecure_files=dict(type="str", choices=list(_parity.INSECURE_FILES), default="warn"),
    )


def _summary(stores):
    return "; ".join("%s: %s" % (s["name"], s["msg"]) for s in stores)


def main(rewrite):
    module = AnsibleModule(argument_spec=argument_spec(rewrite), supports_check_mode=True)
    params = module.params
    if _parity.needs_passlib(params["stores"]) and not dh.have_passlib():
        module.fail_json(msg=missing_required_lib("passlib") + " " + dh.PASSLIB_INSTALL_HINT,
                         exception=dh.PASSLIB_IMPORT_ERROR)
    context = dict(systemd_creds_bin=module.get_bin_path("systemd-creds"), run=module_runner(module))
    try:
        stores = _parity.build_stores(params["stores"], context)
        result, diffs, warnings = _parity.run(stores, secret=params["secret"], rewrite=rewrite,
                                              check_mode=module.check_mode, insecure_files=params["insecure_files"])
    except _parity.ParityInputError as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)

    if not rewrite:
        result["changed"] = False
        module.exit_json(**result)
    _exit_rewritten(module, result, diffs)


def _exit_rewritten(module, result, diffs):
    """password_parity's end: fail on any store in error, and (not in check mode) while not in parity."""
    del result["groups"]  # an audit's grouping; with the secret there is none
    if module._diff and diffs:
        result["diff"] = diffs
    errors = [s for s in result["stores"] if s["status"] == _parity.ERROR]
    if errors:
        module.fail_json(msg="cannot bring the password into parity: %s" % _summary(errors), **result)
    if not module.check_mode and not result["in_parity"]:
        stale = [s for s in result["stores"] if s["status"] != _parity.MATCH and not s["changed"]]
        module.fail_json(msg="still not in parity: %s" % _summary(stale), **result)
    module.exit_json(**result)
