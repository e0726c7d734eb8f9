# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures: the incident site, a rotation (for the engine and the modules) and `run_module`.

`run_module` runs a module's main() in-process the way Ansible does: the module reads its
arguments from ansible.module_utils.basic._ANSIBLE_ARGS (patched by ansible-core's own
`patch_module_args`), prints one JSON document on stdout and exits. The helper returns the
parsed result and the raw text, so tests assert on exactly what Ansible would receive
(no_log masking included).
"""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh

from .common import DOVEADM, GATEWAY_INI, OTHER, PASSWORD, USER


@pytest.fixture
def site(tmp_path):
    """The incident: the SMTP copy was changed, every other copy still holds PASSWORD."""
    ini = tmp_path / "gateway.ini"
    ini.write_text(GATEWAY_INI.format(smtp=OTHER, imap=PASSWORD), encoding="utf-8")
    users = tmp_path / "users"
    users.write_text("# Dovecot users\n%s:%s:5000:5000::/var/mail/invites::userdb_quota_rule=*:storage=1G\n"
                     "alice@example.test:{PLAIN}alice-secret:5000:5000::/var/mail/alice::\n"
                     % (USER, DOVEADM["SHA512-CRYPT"]), encoding="utf-8")
    secret_file = tmp_path / "imap.pass"
    secret_file.write_text(PASSWORD + "\n", encoding="utf-8")
    keychain = tmp_path / "keychain"
    keychain.mkdir(mode=0o700)
    (keychain / "imip-gateway.smtp").write_text(PASSWORD, encoding="utf-8")
    _private(ini, users, secret_file, keychain / "imip-gateway.smtp")
    stores = [
        dict(name="keychain-smtp", type="keychain", item="imip-gateway.smtp", backend="file", path=str(keychain)),
        dict(name="gateway-smtp", type="ini", path=str(ini), section="smtp", key="password"),
        dict(name="gateway-imap", type="ini", path=str(ini), section="imap", key="password"),
        dict(name="imap-file", type="file", path=str(secret_file)),
        dict(name="dovecot-user", type="passwd_file", path=str(users), user=USER),
    ]
    return tmp_path, stores


@pytest.fixture
def rotation(tmp_path):
    """A rotation: every copy holds OTHER, the old password; the new one is NEW.

    Two keychain items, two keys of one ini file, two users of one passwd-file and a whole file.
    """
    ini = tmp_path / "gateway.ini"
    ini.write_text(GATEWAY_INI.format(smtp=OTHER, imap=OTHER), encoding="utf-8")
    users = tmp_path / "users"
    users.write_text("# Dovecot users\n%s:%s:5000:5000::/var/mail/invites::\nalice@example.test:{PLAIN}alice-secret\n"
                     "legacy-invites@example.test:%s\n" % (USER, dh.make(OTHER, "SHA512-CRYPT"), dh.make(OTHER, "SHA256-CRYPT")),
                     encoding="utf-8")
    secret_file = tmp_path / "imap.pass"
    secret_file.write_text(OTHER + "\n", encoding="utf-8")
    keychain = tmp_path / "keychain"
    keychain.mkdir(mode=0o700)
    for item in ("imip-gateway.smtp", "imip-gateway.imap"):
        (keychain / item).write_text(OTHER, encoding="utf-8")
        _private(keychain / item)
    _private(ini, users, secret_file)
    stores = [
        dict(name="keychain-smtp", type="keychain", item="imip-gateway.smtp", backend="file", path=str(keychain)),
        dict(name="keychain-imap", type="keychain", item="imip-gateway.imap", backend="file", path=str(keychain)),
        dict(name="gateway-smtp", type="ini", path=str(ini), section="smtp", key="password"),
        dict(name="gateway-imap", type="ini", path=str(ini), section="imap", key="password"),
        dict(name="imap-file", type="file", path=str(secret_file)),
        dict(name="dovecot-invites", type="passwd_file", path=str(users), user=USER),
        dict(name="dovecot-legacy", type="passwd_file", path=str(users), user="legacy-invites@example.test",
             scheme="SHA256-CRYPT"),
    ]
    return tmp_path, stores


def _private(*paths):
    """Mode 0600, as secret-bearing files should be (tmp_path files are 0644 otherwise)."""
    for path in paths:
        os.chmod(path, 0o600)


class ModuleRun(object):
    def __init__(self, result, raw, rc):
        self.result, self.raw, self.rc = result, raw, rc

    @property
    def failed(self):
        return bool(self.result.get("failed"))


@pytest.fixture
def run_module(capsys):
    """run_module(module, args, check=False, diff=False) -> ModuleRun; every raw output is kept."""
    outputs = []

    def run(module, args, check=False, diff=False):
        args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        # Each real module run is a new process: no warnings left over from an earlier run.
        module_warnings._global_warnings.clear()
        module_warnings._global_deprecations.clear()
        capsys.readouterr()
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                module.main()
        captured = capsys.readouterr()
        raw = captured.out + captured.err
        outputs.append(raw)
        return ModuleRun(json.loads(captured.out), raw, exc.value.code)

    run.outputs = outputs
    return run
