# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Jinja tests imip.server.label, domain, mail_address, log_level, postgrey_client and
postgrey_recipient: each is its module_utils rule (tested in module_utils/test_names.py and
test_postgrey.py), reachable from a role by its FQCN."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
NAMES = ["domain", "label", "log_level", "mail_address", "postgrey_client", "postgrey_recipient"]


def test_the_tests_are_registered():
    from ansible_collections.imip.server.plugins.test import names

    assert sorted(names.TestModule().tests()) == NAMES


def test_each_test_is_documented():
    for name in NAMES:
        assert (ROOT / "plugins" / "test" / ("%s.yml" % name)).is_file(), name


@pytest.mark.parametrize("expression,expected", [
    ("{{ 'Alice@Example.ORG' is imip.server.mail_address }}", True),
    ("{{ 'invites+x@example.org' is imip.server.mail_address }}", False),
    ("{{ 7 is imip.server.mail_address }}", False),
    ("{{ 'alice@example.org' is imip.server.mail_address(['example.org']) }}", True),
    ("{{ 'alice@example.org' is imip.server.mail_address('example.org') }}", True),
    ("{{ 'alice@other.example' is imip.server.mail_address(domains=['example.org']) }}", False),
    ("{{ 'example.org' is imip.server.domain }}", True),
    ("{{ 'example' is imip.server.domain }}", False),
    ("{{ 'imip1' is imip.server.label }}", True),
    ("{{ 'a.b' is imip.server.label }}", False),
    ("{{ 'debug' is imip.server.log_level }}", True),
    ("{{ 'warning' is imip.server.log_level }}", False),
    ("{{ '192.0.2' is imip.server.postgrey_client }}", True),
    ("{{ 'a b' is imip.server.postgrey_client }}", False),
    ("{{ 'postmaster@' is imip.server.postgrey_recipient }}", True),
    ("{{ '@example.org' is imip.server.postgrey_recipient }}", False),
])
def test_a_role_uses_them_by_name(templar, expression, expected):
    assert templar(expression, {}) is expected


def test_in_select_and_reject(templar):
    variables = {"domains": ["example.org", "bad_domain.org", "Example.NET", "x"]}
    assert templar("{{ domains | reject('imip.server.domain') | list }}", variables) == ["bad_domain.org", "x"]
    variables = {"users": [{"value": "a@example.org"}, {"value": "a+b@example.org"}]}
    assert templar("{{ users | rejectattr('value', 'imip.server.mail_address') | list }}", variables) == [
        {"value": "a+b@example.org"}]


def test_loading_the_test_files_imports_no_helper():
    """As for the filters (tests/unit/test_controller_cost.py): a worker loads every test file of
    the collection to resolve one name, so the helpers are imported when a test runs."""
    files = sorted(p.stem for p in (ROOT / "plugins" / "test").glob("*.py"))
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "for name in %r:\n"
        "    __import__('ansible_collections.imip.server.plugins.test.' + name)\n"
        "print('\\n'.join(sorted(m for m in set(sys.modules) - before if 'module_utils' in m)))\n" % files
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT, env={"PYTHONPATH": ":".join(sys.path)})
    assert proc.stdout.strip() == "", "test files import at load time:\n" + proc.stdout
