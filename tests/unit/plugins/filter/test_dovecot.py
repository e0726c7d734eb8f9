# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""imip.server.dovecot_scheme_errors, and the collection's one list of Dovecot schemes.

The roles validate scheme variables with the filter; the modules write with the same table
(module_utils/_dovecot_hash.py). Documentation that lists the schemes is checked against it, so
the list lives in one place and the docs cannot drift from it.
"""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest
import yaml

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh

ROOT = Path(__file__).resolve().parents[4]
WRITABLE = ["ARGON2I", "ARGON2ID", "BLF-CRYPT", "PLAIN", "SHA256-CRYPT", "SHA512-CRYPT", "SSHA256", "SSHA512"]


@pytest.fixture(scope="module")
def dovecot():
    """The filter plugin. Importing it imports ansible-core's controller code, which switches
    module_utils into controller mode for the process: the switch is undone afterwards."""
    from ansible.module_utils import _internal
    was = _internal.is_controller
    from ansible.errors import AnsibleFilterError
    from ansible_collections.imip.server.plugins.filter import dovecot as plugin
    yield types.SimpleNamespace(plugin=plugin, AnsibleFilterError=AnsibleFilterError)
    _internal.is_controller = was


def test_the_filter_is_registered(dovecot):
    assert dovecot.plugin.FilterModule().filters() == {
        "dovecot_scheme_errors": dovecot.plugin.dovecot_scheme_errors,
        "dovecot_passwd_users": dovecot.plugin.dovecot_passwd_users,
    }


def test_good_schemes_give_no_errors(dovecot):
    check = dovecot.plugin.dovecot_scheme_errors
    assert check("SHA512-CRYPT", "imip_mail_password_scheme") == []
    assert check("blf", "imip_mail_password_scheme") == []  # Dovecot's alias, any case
    assert check([{"address": "a@x.test", "password": "p"}, {"address": "b@x.test", "password": "p", "scheme": "argon2id"}],
                 "imip_mail_users") == []
    assert check([], "imip_mail_users") == []


def test_bad_schemes_are_named_with_the_variable_and_the_list(dovecot):
    check = dovecot.plugin.dovecot_scheme_errors
    assert check("MD4-CRYPT", "imip_mail_password_scheme") == [
        "imip_mail_password_scheme: unknown or read-only password scheme MD4-CRYPT; the schemes a hash can be "
        "written with: " + ", ".join(WRITABLE)]
    errors = check([{"address": "a@x.test", "scheme": "CRYPT"}, {"address": "b@x.test"}, {"address": "c@x.test", "scheme": "yescrypt"}],
                   "imip_mail_users")
    assert [e.split(":")[0] for e in errors] == ["imip_mail_users[0].scheme", "imip_mail_users[2].scheme"]
    assert "read-only password scheme CRYPT" in errors[0] and "scheme yescrypt" in errors[1]


@pytest.mark.parametrize("value, variable", [({"scheme": "x"}, "v"), (["SHA512-CRYPT"], "v"), ("SHA512-CRYPT", "")])
def test_misuse_is_a_filter_error(dovecot, value, variable):
    with pytest.raises(dovecot.AnsibleFilterError, match="dovecot_scheme_errors"):
        dovecot.plugin.dovecot_scheme_errors(value, variable)


def test_the_mail_role_validates_with_the_filter_and_keeps_no_list():
    validate = (ROOT / "roles/mail/tasks/validate.yml").read_text()
    assert "imip_mail_password_scheme | imip.server.dovecot_scheme_errors('imip_mail_password_scheme')" in validate
    assert "imip_mail_users | imip.server.dovecot_scheme_errors('imip_mail_users')" in validate
    specs = yaml.safe_load((ROOT / "roles/mail/meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert "choices" not in specs["imip_mail_password_scheme"]
    assert "choices" not in specs["imip_mail_users"]["options"]["scheme"]
    for role in sorted((ROOT / "roles").iterdir()):
        for path in role.rglob("*.yml"):
            assert not re.search(r"SHA256-CRYPT\W+BLF-CRYPT|BLF-CRYPT\W+ARGON2I", path.read_text()), (
                "%s lists Dovecot schemes itself; use imip.server.dovecot_scheme_errors" % path)


def _listed(text):
    """Every comma-separated run of scheme names in `text` (written V(X), `X` or X)."""
    name = r"(?:V\(|`)?(?:%s)(?:\)|`)?" % "|".join(re.escape(s) for s in sorted(dh.SCHEMES, key=len, reverse=True))
    runs = re.findall(r"%s(?:,\s+%s)+" % (name, name), text)
    return [[n for n in re.findall(r"[A-Z0-9]+(?:-[A-Z0-9]+)*", run) if n in dh.SCHEMES] for run in runs]


@pytest.mark.parametrize("path, expected", [
    ("plugins/modules/dovecot_passwd_file.py", [WRITABLE]),
    ("plugins/doc_fragments/parity_stores.py", [WRITABLE, "verified"]),
    ("docs/mail.md", [WRITABLE]),
    ("docs/parity.md", ["verified", WRITABLE]),
])
def test_documented_lists_are_the_table(path, expected):
    """Where the docs list the schemes, they list exactly the table's, in its order."""
    lists = [names for names in _listed((ROOT / path).read_text()) if len(names) >= 5]
    assert lists == [sorted(dh.supported_verify()) if e == "verified" else e for e in expected]
    assert dh.supported_write() == WRITABLE


# --- dovecot_passwd_users: the mail role's accounts as the passwd-file module's users -------------

# The namespace() loop roles/mail/vars/main.yml had before the filter replaced it.
OLD_PASSWD_USERS = (
    "{% set ns = namespace(out=[]) %}{% for account in accounts %}{% set ns.out = ns.out"
    " + [{'address': account.address | lower, 'password': account.password, 'scheme': account.scheme | default(none)}]"
    " %}{% endfor %}{{ ns.out }}")
ACCOUNTS = [
    [],
    [{"address": "Alice@Example.ORG", "password": "s1"}],
    [{"address": "alice@example.org", "password": "s1", "scheme": "ARGON2ID"},
     {"address": "Calendar-Invites@example.org", "password": "s2", "extra": 1}],
]


@pytest.mark.parametrize("accounts", ACCOUNTS)
def test_passwd_users_are_what_the_loop_made(templar, accounts):
    new = templar("{{ accounts | imip.server.dovecot_passwd_users }}", {"accounts": accounts})
    assert new == templar(OLD_PASSWD_USERS, {"accounts": accounts})


def test_passwd_users(dovecot):
    assert dovecot.plugin.dovecot_passwd_users([{"address": "A@X.EXAMPLE", "password": "p"}]) == [
        {"address": "a@x.example", "password": "p", "scheme": None}]


@pytest.mark.parametrize("accounts,message", [
    ("a@x.example", "expects a list of accounts, got str"),
    (None, "expects a list of accounts, got NoneType"),
    ([{"password": "secret-value"}], "every account needs an address"),
    ([{"address": 7, "password": "secret-value"}], "every account needs an address"),
])
def test_passwd_users_bad_input_never_shows_a_password(dovecot, accounts, message):
    with pytest.raises(dovecot.AnsibleFilterError, match=message) as exc:
        dovecot.plugin.dovecot_passwd_users(accounts)
    assert "secret-value" not in str(exc.value)
