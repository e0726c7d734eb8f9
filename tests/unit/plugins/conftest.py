# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures: the incident site (for the engine and the modules) and `run_module`.

`run_module` runs a module's main() in-process the way Ansible does: the module reads its
arguments from ansible.module_utils.basic._ANSIBLE_ARGS (patched by ansible-core's own
`patch_module_args`), prints one JSON document on stdout and exits. The helper returns the
parsed result and the raw text, so tests assert on exactly what Ansible would receive
(no_log masking included).
"""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from .module_utils.test_dovecot_hash import DOVEADM, PASSWORD

OTHER = "Stale-Password-7"

GATEWAY_INI = """\
# iMIP gateway configuration
; managed by hand

[smtp]
host = mail.example.test
port: 587
Password = {smtp}
# the imap password follows
[imap]
host=mail.example.test
password={imap}
timeout = 30

[caldav]
password = unrelated = value : kept
"""


@pytest.fixture
def site(tmp_path):
    """The incident: the SMTP copy was changed, every other copy still holds PASSWORD."""
    ini = tmp_path / "gateway.ini"
    ini.write_text(GATEWAY_INI.format(smtp=OTHER, imap=PASSWORD), encoding="utf-8")
    users = tmp_path / "users"
    users.write_text("# Dovecot users\ncalendar-invites@example.test:%s:5000:5000::/var/mail/invites::userdb_quota_rule=*:storage=1G\n"
                     "alice@example.test:{PLAIN}alice-secret:5000:5000::/var/mail/alice::\n"
                     % DOVEADM["SHA512-CRYPT"], encoding="utf-8")
    secret_file = tmp_path / "imap.pass"
    secret_file.write_text(PASSWORD + "\n", encoding="utf-8")
    keychain = tmp_path / "keychain"
    keychain.mkdir(mode=0o700)
    (keychain / "imip-gateway.smtp").write_text(PASSWORD, encoding="utf-8")
    stores = [
        dict(name="keychain-smtp", type="keychain", item="imip-gateway.smtp", backend="file", path=str(keychain)),
        dict(name="gateway-smtp", type="ini", path=str(ini), section="smtp", key="password"),
        dict(name="gateway-imap", type="ini", path=str(ini), section="imap", key="password"),
        dict(name="imap-file", type="file", path=str(secret_file)),
        dict(name="dovecot-user", type="passwd_file", path=str(users), user="calendar-invites@example.test"),
    ]
    return tmp_path, stores


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
