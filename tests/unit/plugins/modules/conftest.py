# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's main() in-process the way Ansible does, and capture its JSON output.

The module reads its arguments from ansible.module_utils.basic._ANSIBLE_ARGS (patched by
ansible-core's own `patch_module_args`), prints one JSON document on stdout and exits; the
helper returns the parsed result and the raw text, so tests can assert on exactly what
Ansible would receive (no_log masking included).
"""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args


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
