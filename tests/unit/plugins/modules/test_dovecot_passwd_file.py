# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""dovecot_passwd_file driven through AnsibleModule: the whole file, hashes kept while they verify."""

from __future__ import annotations

import grp
import os
import pwd
import re

import pytest

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh
from ansible_collections.imip.server.plugins.modules import dovecot_passwd_file as mod

from ..common import DOVEADM, PASSWORD, hash_parts

ALICE, BOB, INVITES = "alice@example.test", "bob@example.test", "calendar-invites@example.test"
SECRETS = {ALICE: "Alice:pw 7Rk2 x", BOB: "Bob-Qw3#zz", INVITES: PASSWORD}


def users(*addresses, **schemes):
    return [dict(address=a, password=SECRETS[a], **({"scheme": schemes[a.split("@")[0]]} if a.split("@")[0] in schemes else {}))
            for a in addresses]


def parse(path):
    return dict(line.split(":", 1) for line in path.read_text(encoding="utf-8").splitlines())


def other_owner():
    """(user, group) other than the caller's when running as root, else the caller's own."""
    if os.geteuid() == 0:
        return "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    return pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name


def warnings(run):
    """The warnings' text (plain strings, or ansible-core's structured warning summaries)."""
    return "\n".join(w if isinstance(w, str) else str(w) for w in run.result.get("warnings", []))


@pytest.fixture
def passwd(tmp_path):
    return tmp_path / "imip.passwd"


def test_create_then_nothing_to_do(run_module, passwd):
    first = run_module(mod, dict(path=str(passwd), users=users(ALICE, BOB, bob="SHA256-CRYPT"), mode="0640"), diff=True)
    assert first.rc == 0 and first.result["changed"] is True
    assert (first.result["added"], first.result["removed"], first.result["rehashed"]) == ([ALICE, BOB], [], [])
    lines = parse(passwd)
    assert list(lines) == [ALICE, BOB]
    assert re.match(r"^\{SHA512-CRYPT\}\$6\$[^$]+\$[^$]+$", lines[ALICE]), "5000 rounds: no rounds= field"
    assert lines[BOB].startswith("{SHA256-CRYPT}$5$")
    assert dh.verify(SECRETS[ALICE], lines[ALICE]) and dh.verify(SECRETS[BOB], lines[BOB])
    assert os.stat(passwd).st_mode & 0o7777 == 0o640
    assert first.result["diff"][0]["after"] == "%s:<new hash>\n%s:<new hash>\n" % (ALICE, BOB)

    text = passwd.read_text()
    again = run_module(mod, dict(path=str(passwd), users=users(ALICE, BOB, bob="SHA256-CRYPT"), mode="0640"), diff=True)
    assert again.result["changed"] is False and "diff" not in again.result
    assert passwd.read_text() == text, "hashes that verify are kept (random salts)"


def test_add_remove_keep_rehash(run_module, passwd):
    passwd.write_text("%s:%s\n%s:%s\nold@example.test:{PLAIN}gone\n" % (
        INVITES, DOVEADM["ARGON2ID"], ALICE, DOVEADM["SHA512-CRYPT"]), encoding="utf-8")
    run = run_module(mod, dict(path=str(passwd), users=users(ALICE, BOB, INVITES)), diff=True)
    assert run.rc == 0 and run.result["changed"] is True
    assert run.result["added"] == [BOB]
    assert run.result["removed"] == ["old@example.test"]
    assert run.result["rehashed"] == [ALICE], "alice's stored hash is of another password"
    lines = parse(passwd)
    assert list(lines) == [ALICE, BOB, INVITES], "the order of users"
    assert lines[INVITES] == DOVEADM["ARGON2ID"], "a hash that verifies is kept, whatever its scheme"
    assert lines[ALICE].startswith("{SHA512-CRYPT}") and dh.verify(SECRETS[ALICE], lines[ALICE])
    diff = run.result["diff"][0]
    assert diff["before"] == ("%s:<hash>\n%s:<hash that does not verify>\nold@example.test:<hash>\n" % (INVITES, ALICE))
    assert diff["after"] == "%s:<new hash>\n%s:<new hash>\n%s:<hash>\n" % (ALICE, BOB, INVITES)


def test_check_mode_writes_nothing_and_names_the_changes(run_module, passwd, tmp_path):
    new = tmp_path / "new.passwd"
    created = run_module(mod, dict(path=str(new), users=users(ALICE), owner="no-such-user-yet", group="no-such-group-yet"),
                         check=True, diff=True)
    assert created.rc == 0 and created.result["changed"] is True and created.result["added"] == [ALICE]
    assert not new.exists(), "a fresh host: nothing written, owner and group not needed yet"

    passwd.write_text("%s:%s\nold@example.test:{PLAIN}x\n" % (ALICE, DOVEADM["SHA512-CRYPT"]), encoding="utf-8")
    os.chmod(passwd, 0o644)
    before = passwd.read_bytes()
    check = run_module(mod, dict(path=str(passwd), users=users(ALICE, BOB), mode="0640"), check=True, diff=True)
    assert check.result["changed"] is True
    assert (check.result["added"], check.result["removed"], check.result["rehashed"]) == ([BOB], ["old@example.test"], [ALICE])
    assert passwd.read_bytes() == before and os.stat(passwd).st_mode & 0o7777 == 0o644


def test_check_mode_without_changes_reports_none(run_module, passwd):
    run_module(mod, dict(path=str(passwd), users=users(ALICE, BOB), mode="0640"))
    check = run_module(mod, dict(path=str(passwd), users=users(ALICE, BOB), mode="0640"), check=True, diff=True)
    assert check.result["changed"] is False and "diff" not in check.result


def test_owner_group_mode_are_kept_on_rewrite(run_module, passwd):
    user, group = other_owner()
    passwd.write_text("%s:{PLAIN}stale\n" % ALICE, encoding="utf-8")
    os.chown(passwd, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
    os.chmod(passwd, 0o640)
    run = run_module(mod, dict(path=str(passwd), users=users(ALICE)))
    assert run.result["rehashed"] == [ALICE]
    st = os.stat(passwd)
    assert (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, st.st_mode & 0o7777) == (user, group, 0o640)


def test_owner_group_mode_are_set_and_reported(run_module, passwd):
    user, group = other_owner()
    run_module(mod, dict(path=str(passwd), users=users(ALICE)))
    assert os.stat(passwd).st_mode & 0o7777 == 0o600, "a new file without mode is private"
    run = run_module(mod, dict(path=str(passwd), users=users(ALICE), owner=user, group=group, mode="0640"), diff=True)
    assert run.result["changed"] is True and run.result["added"] == []
    st = os.stat(passwd)
    assert (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, st.st_mode & 0o7777) == (user, group, 0o640)
    assert run.result["diff"][-1]["after"]["mode"] == "0640"
    assert run_module(mod, dict(path=str(passwd), users=users(ALICE), owner=user, group=group, mode="0640")).result["changed"] is False


def test_comments_and_extra_fields_are_removed(run_module, passwd):
    """The module owns the whole file: anything but user:hash lines goes."""
    passwd.write_text("# by hand\n\n%s:%s:5000:5000::/home/x::\n" % (INVITES, DOVEADM["SHA512-CRYPT"]), encoding="utf-8")
    run = run_module(mod, dict(path=str(passwd), users=users(INVITES)), diff=True)
    assert run.result["changed"] is True and run.result["rehashed"] == []
    assert passwd.read_text() == "%s:%s\n" % (INVITES, DOVEADM["SHA512-CRYPT"])
    assert run.result["diff"][0]["before"] == "# <comment>\n\n%s:<hash>:<other fields>\n" % INVITES


def test_empty_list_empties_the_file(run_module, passwd):
    passwd.write_text("%s:{PLAIN}x\n" % ALICE, encoding="utf-8")
    run = run_module(mod, dict(path=str(passwd), users=[]))
    assert run.result["removed"] == [ALICE] and passwd.read_text() == ""


def test_malformed_line_names_the_line_and_writes_nothing(run_module, passwd):
    passwd.write_text("%s:{PLAIN}x\n# fine\nno separator here\n" % ALICE, encoding="utf-8")
    before = passwd.read_bytes()
    run = run_module(mod, dict(path=str(passwd), users=users(ALICE)))
    assert run.failed and run.rc == 1
    assert run.result["msg"].startswith("%s line 3: malformed" % passwd)
    assert passwd.read_bytes() == before


def test_duplicate_user_in_the_file_names_the_lines(run_module, passwd):
    passwd.write_text("%s:{PLAIN}a\n%s:{PLAIN}b\n%s:{PLAIN}c\n" % (ALICE, BOB, ALICE), encoding="utf-8")
    run = run_module(mod, dict(path=str(passwd), users=users(ALICE)))
    assert run.failed and "lines 1, 3: user %s appears more than once" % ALICE in run.result["msg"]


def test_not_utf8_names_the_line(run_module, passwd):
    passwd.write_bytes(b"a:{PLAIN}x\nb:{PLAIN}\xff\n")
    run = run_module(mod, dict(path=str(passwd), users=users(ALICE)))
    assert run.failed and run.result["msg"] == "%s line 2: not UTF-8 text" % passwd


@pytest.mark.parametrize("args, message", [
    (dict(scheme="MD4-CRYPT"),
     "scheme: unknown or read-only password scheme MD4-CRYPT; the schemes a hash can be written with: ARGON2I"),
    (dict(scheme="CRYPT"), "scheme: unknown or read-only password scheme CRYPT"),
    (dict(users=[dict(address=ALICE, password="x-Secret-1", scheme="yescrypt")]),
     "users[0] (alice@example.test): unknown or read-only password scheme yescrypt"),
])
def test_unknown_scheme_is_an_error(run_module, passwd, args, message):
    run = run_module(mod, dict(dict(path=str(passwd), users=users(ALICE)), **args))
    assert run.failed and message in run.result["msg"]
    assert not passwd.exists()


@pytest.mark.parametrize("entry, message", [
    (dict(address="", password="x-Secret-1"), "users[1]: the address is empty"),
    (dict(address="a b@example.test", password="x-Secret-1"), "users[1] (a b@example.test): the address must not contain"),
    (dict(address="a:b@example.test", password="x-Secret-1"), "must not contain ':'"),
    (dict(address=BOB, password=""), "users[1] (bob@example.test): the password is empty"),
    (dict(address=BOB, password="two\nlines"), "users[1] (bob@example.test): the password must not contain line breaks"),
    (dict(address=BOB, password="a:b", scheme="plain"), "scheme PLAIN cannot hold a password containing ':'"),
    (dict(address=ALICE, password="x-Secret-1"), "users[0] and users[1]: alice@example.test is listed twice"),
    (dict(address="#bob@example.test", password="x-Secret-1"), "users[1] (#bob@example.test): the address must not start with '#'"),
    (dict(address=BOB, password="x" * 73, scheme="BLF-CRYPT"), "users[1] (bob@example.test): BLF-CRYPT (bcrypt) uses only the first 72"),
])
def test_bad_users_are_refused(run_module, passwd, entry, message):
    run = run_module(mod, dict(path=str(passwd), users=users(ALICE) + [entry]))
    assert run.failed and message in run.result["msg"], run.result["msg"]
    assert not passwd.exists()


def test_unverifiable_hash_is_rewritten_with_a_warning(run_module, passwd):
    passwd.write_text("%s:{MD4}abcdef\n" % ALICE, encoding="utf-8")
    run = run_module(mod, dict(path=str(passwd), users=users(ALICE)))
    assert run.result["rehashed"] == [ALICE]
    assert "line 1 (alice@example.test): the stored hash cannot be verified" in warnings(run)
    assert "MD4" not in warnings(run) and "abcdef" not in warnings(run), "file content is never quoted"
    assert dh.verify(SECRETS[ALICE], parse(passwd)[ALICE])


def test_missing_directory_is_an_error(run_module, tmp_path):
    run = run_module(mod, dict(path=str(tmp_path / "nowhere" / "imip.passwd"), users=users(ALICE)))
    assert run.failed and "cannot write %s" % (tmp_path / "nowhere" / "imip.passwd") in run.result["msg"]


def test_without_passlib(run_module, passwd, monkeypatch):
    """Check mode on a fresh host needs no passlib; verifying or hashing for real does."""
    monkeypatch.setattr(dh, "_passlib_hash", None)
    fresh = run_module(mod, dict(path=str(passwd), users=users(ALICE)), check=True)
    assert fresh.rc == 0 and fresh.result["added"] == [ALICE]

    passwd.write_text("%s:%s\n" % (ALICE, DOVEADM["SHA512-CRYPT"]), encoding="utf-8")
    check = run_module(mod, dict(path=str(passwd), users=users(ALICE)), check=True)
    assert check.rc == 0 and check.result["rehashed"] == [ALICE]
    assert "cannot verify without passlib" in warnings(check)

    real = run_module(mod, dict(path=str(passwd), users=users(ALICE)))
    assert real.failed and "passlib" in real.result["msg"] and "python3-passlib" in real.result["msg"]
    added = run_module(mod, dict(path=str(passwd), users=users(BOB)))
    assert added.failed and "python3-passlib" in added.result["msg"]
    assert parse(passwd) == {ALICE: DOVEADM["SHA512-CRYPT"]}


def test_no_password_or_hash_in_any_output(run_module, passwd, tmp_path):
    stale = DOVEADM["SHA512-CRYPT"]
    passwd.write_text("%s:%s\nold@example.test:%s\n" % (ALICE, stale, DOVEADM["ARGON2ID"]), encoding="utf-8")
    run_module(mod, dict(path=str(passwd), users=users(ALICE, BOB, INVITES)), check=True, diff=True)
    run_module(mod, dict(path=str(passwd), users=users(ALICE, BOB, INVITES), mode="0640"), diff=True)
    written = passwd.read_text(encoding="utf-8")
    run_module(mod, dict(path=str(passwd), users=users(ALICE, BOB, INVITES)), diff=True)
    run_module(mod, dict(path=str(passwd), users=users(ALICE) + [dict(address=BOB, password="a:b", scheme="PLAIN")]), diff=True)
    run_module(mod, dict(path=str(passwd), users=users(ALICE) + [dict(address=ALICE, password=SECRETS[ALICE])]), diff=True)
    (tmp_path / "bad.passwd").write_text("%s:%s\nbroken line\n" % (ALICE, stale), encoding="utf-8")
    run_module(mod, dict(path=str(tmp_path / "bad.passwd"), users=users(ALICE)), diff=True)

    forbidden = set(SECRETS.values()) | {"a:b"} | hash_parts(written + stale + DOVEADM["ARGON2ID"])
    assert len(run_module.outputs) == 6
    for raw in run_module.outputs:
        for secret in forbidden:
            assert secret not in raw
