# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The parity engine: every store type, rotation of shared files, input rules, audit grouping,
rewriting, verification after the writes, check mode, errors."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh
from ansible_collections.imip.server.plugins.module_utils import _keychain as kc
from ansible_collections.imip.server.plugins.module_utils.parity import engine as p

from ...common import (
    DOVEADM,
    GATEWAY_INI,
    NEW,
    OTHER,
    PASSWORD,
    USER,
    by_name,
    closed_port,
    needs_systemd_creds,
    run,
    run_subprocess,
    snapshot,
    spec,
)


def result_of(*args, **kw):
    return run(*args, **kw)[0]


def passwd_fields(path):
    """user -> password field of a passwd-file."""
    return dict(line.split(":")[:2] for line in path.read_text(encoding="utf-8").splitlines()
                if line and not line.startswith("#"))


# --- rotation: every copy stale at once, stores sharing files ------------------------------------

def test_rotation_of_every_copy_converges_in_one_run_then_nothing_changes(rotation):
    tmp, stores = rotation
    result, diffs, warnings = run(stores, secret=NEW, rewrite=True)
    assert result["in_parity"] is True and result["changed"] is True and warnings == []
    assert [s["changed"] for s in result["stores"]] == [True] * len(stores)
    assert result["drifted"] == [s["name"] for s in stores]
    assert all(s["msg"].endswith("; rewritten") for s in result["stores"]), result["stores"]
    assert len(diffs) == len(stores)
    # What is on disk: both ini keys, both passwd-file users, each keychain item, the file.
    assert (tmp / "gateway.ini").read_text(encoding="utf-8") == GATEWAY_INI.format(smtp=NEW, imap=NEW)
    fields = passwd_fields(tmp / "users")
    assert dh.verify(NEW, fields[USER]) and fields[USER].startswith("{SHA512-CRYPT}")
    assert dh.verify(NEW, fields["legacy-invites@example.test"]) and fields["legacy-invites@example.test"].startswith("{SHA256-CRYPT}")
    assert fields["alice@example.test"] == "{PLAIN}alice-secret", "other users are kept"
    assert (tmp / "users").read_text().splitlines()[1].endswith(":5000:5000::/var/mail/invites::")
    assert (tmp / "keychain" / "imip-gateway.smtp").read_text() == NEW
    assert (tmp / "keychain" / "imip-gateway.imap").read_text() == NEW
    assert (tmp / "imap.pass").read_text() == NEW + "\n"

    before = snapshot(tmp)
    again, diffs, _warnings = run(stores, secret=NEW, rewrite=True)
    assert again["changed"] is False and again["in_parity"] is True and again["drifted"] == [] and diffs == []
    assert snapshot(tmp) == before, "the second run writes nothing"


def test_rotation_writes_each_shared_file_once(rotation, monkeypatch):
    tmp, stores = rotation
    from ansible_collections.imip.server.plugins.module_utils.parity import shared_file
    written = []
    real = shared_file.atomic_write

    def counting(path, data, new_mode=0o600):
        written.append(os.path.basename(path))
        return real(path, data, new_mode)

    monkeypatch.setattr(shared_file, "atomic_write", counting)
    assert result_of(stores, secret=NEW, rewrite=True)["in_parity"] is True
    assert sorted(written) == ["gateway.ini", "imap.pass", "users"]


def test_a_store_changed_by_another_write_is_caught_before_reporting(rotation, monkeypatch):
    """Every store is read back from disk after all writes: a lost update is an error in this run."""
    tmp, stores = rotation
    from ansible_collections.imip.server.plugins.module_utils import _ini_editor
    real_set = _ini_editor.IniDocument.set

    def stale_imap(self, section, key, value):
        # Stand-in for the old bug: one store's edit puts back the value another store changed.
        return real_set(self, section, key, value).replace("password=%s" % NEW, "password=%s" % OTHER)

    monkeypatch.setattr(_ini_editor.IniDocument, "set", stale_imap)
    result = result_of([s for s in stores if s["type"] == "ini"], secret=NEW, rewrite=True)
    imap = by_name(result)["gateway-imap"]
    assert result["in_parity"] is False and imap["status"] == "error"
    assert imap["msg"].endswith("; written, but reading it back does not give the password")
    assert by_name(result)["gateway-smtp"]["msg"].endswith("; rewritten")


def test_stores_naming_one_file_through_a_symlink_share_it(rotation):
    tmp, stores = rotation
    (tmp / "link.ini").symlink_to(tmp / "gateway.ini")
    stores[3]["path"] = str(tmp / "link.ini")  # gateway-imap through the link
    result = result_of(stores, secret=NEW, rewrite=True)
    assert result["in_parity"] is True
    assert (tmp / "link.ini").is_symlink(), "the link is kept"
    assert (tmp / "gateway.ini").read_text(encoding="utf-8") == GATEWAY_INI.format(smtp=NEW, imap=NEW)


def test_a_symlinked_store_writes_the_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "etc" / "imap.pass"
    real.parent.mkdir()
    real.write_text(OTHER)
    os.chmod(real, 0o600)
    (tmp_path / "imap.pass").symlink_to(real)
    result = result_of([dict(name="f", type="file", path=str(tmp_path / "imap.pass"))], secret=NEW, rewrite=True)
    assert result["in_parity"] is True and by_name(result)["f"]["msg"].endswith("; rewritten")
    assert (tmp_path / "imap.pass").is_symlink() and real.read_text() == NEW


# --- input rules: refused before anything is read or written -----------------------------------

def _ini_store(tmp, **kw):
    return dict(dict(name="gw", type="ini", path=str(tmp / "gateway.ini"), section="smtp", key="password"), **kw)


@pytest.mark.parametrize("secret, rule", [
    (" " + NEW, "starts or ends with white space"),
    (NEW + " ", "starts or ends with white space"),
    (NEW + "\t", "starts or ends with white space"),
    ("\u00a0" + NEW, "starts or ends with white space"),
    ("form\x0cfeed", "line separator"),
    ("vertical\x0btab", "line separator"),
    ("file\x1csep", "line separator"),
    ("next\x85line", "line separator"),
    ("line\u2028sep", "line separator"),
    ("para\u2029sep", "line separator"),
])
def test_a_secret_an_ini_value_cannot_hold_is_refused_and_nothing_is_written(rotation, secret, rule):
    tmp, stores = rotation
    before = snapshot(tmp)
    with pytest.raises(p.ParityInputError) as err:
        run(stores, secret=secret, rewrite=True)
    assert str(err.value).startswith("store gateway-smtp (ini): the password cannot be an ini value: ")
    assert rule in str(err.value)
    assert secret.strip() not in str(err.value)
    assert snapshot(tmp) == before, "byte-identical: nothing written"
    with pytest.raises(p.ParityInputError):
        run(stores, secret=secret)  # a copy that can never hold it: the info module refuses too


@pytest.mark.parametrize("secret", ["", "two\nlines", "cr\rhere", "nul\0here"])
def test_a_secret_no_store_can_hold_is_refused(tmp_path, secret):
    with pytest.raises(p.ParityInputError, match="secret"):
        run([dict(name="f", type="file", path=str(tmp_path / "x"))], secret=secret, rewrite=True)
    assert list(tmp_path.iterdir()) == []


def test_edge_white_space_is_fine_where_the_store_keeps_it(tmp_path):
    (tmp_path / "kc").mkdir(mode=0o700)
    specs = [dict(name="f", type="file", path=str(tmp_path / "pass"), create=True),
             dict(name="k", type="keychain", item="x", backend="file", path=str(tmp_path / "kc"), create=True)]
    result = result_of(specs, secret=" spaced ", rewrite=True)
    assert result["in_parity"] is True and (tmp_path / "pass").read_text() == " spaced "
    assert result_of(specs, secret=" spaced ", rewrite=True)["changed"] is False


@pytest.mark.parametrize("store, message", [
    (dict(section="smtp\n[evil]"), "store gw (ini): section contains a line break"),
    (dict(section=" smtp"), "store gw (ini): section starts or ends with white space"),
    (dict(section=""), "store gw (ini): section is empty"),
    (dict(section="a]b"), "store gw (ini): section contains ']'"),
    (dict(key="[password"), "store gw (ini): key starts with '['"),
    (dict(key="#password"), "store gw (ini): key starts with '#'"),
    (dict(key="pass word "), "store gw (ini): key starts or ends with white space"),
    (dict(key="a=b"), "store gw (ini): key contains '=' or ':'"),
])
def test_sections_and_keys_it_could_not_read_back_are_refused(rotation, store, message):
    tmp, _stores = rotation
    before = snapshot(tmp)
    with pytest.raises(p.ParityInputError) as err:
        run([_ini_store(tmp, **store)], secret=NEW, rewrite=True)
    assert str(err.value).startswith(message)
    assert snapshot(tmp) == before


@pytest.mark.parametrize("user, message", [
    ("#invites", "must not start with '#'"),
    ("a:b", "must not contain ':'"),
    (" u", "must not contain ':', white space"),
])
def test_users_it_could_not_read_back_are_refused(rotation, user, message):
    tmp, _stores = rotation
    before = snapshot(tmp)
    store = dict(name="d", type="passwd_file", path=str(tmp / "users"), user=user, create=True, passwd_fields="")
    with pytest.raises(p.ParityInputError, match="store d \\(passwd_file\\): the user name " + message):
        run([store], secret=NEW, rewrite=True)
    assert snapshot(tmp) == before


def test_a_73_byte_password_is_refused_for_blf_crypt(rotation):
    tmp, stores = rotation
    stores[5]["scheme"] = "BLF-CRYPT"
    before = snapshot(tmp)
    long_secret = "x" * 73
    with pytest.raises(p.ParityInputError) as err:
        run(stores, secret=long_secret, rewrite=True)
    assert str(err.value) == ("store dovecot-invites (passwd_file): BLF-CRYPT (bcrypt) uses only the first 72 bytes "
                              "of a password and this password is longer; use another scheme (SHA512-CRYPT, ARGON2ID, ...)")
    assert snapshot(tmp) == before
    # 72 bytes (multi-byte characters count in bytes) fit
    assert result_of(stores, secret="\u00e9" * 36, rewrite=True)["in_parity"] is True


def test_a_stored_bcrypt_hash_cannot_hold_a_long_password_and_is_rehashed(tmp_path):
    users = tmp_path / "users"
    users.write_text("u:%s\n" % dh.make("y" * 72, "BLF-CRYPT"))
    os.chmod(users, 0o600)
    store = dict(name="d", type="passwd_file", path=str(users), user="u")
    long_secret = "y" * 72 + "z"
    result = result_of([store], secret=long_secret)
    d = by_name(result)["d"]
    assert d["status"] == "drift" and "uses only the first 72 bytes" in d["msg"], d
    result = result_of([store], secret=long_secret, rewrite=True)
    assert result["in_parity"] is True and passwd_fields(users)["u"].startswith("{SHA512-CRYPT}")


def test_plain_scheme_cannot_hold_a_colon(tmp_path):
    store = dict(name="d", type="passwd_file", path=str(tmp_path / "users"), user="inv", scheme="PLAIN")
    with pytest.raises(p.ParityInputError, match=r"store d \(passwd_file\): scheme PLAIN cannot hold a password containing ':'"):
        run([store], secret="a:b", rewrite=True)
    (tmp_path / "users").write_text("inv:{PLAIN}old:1:1\n")
    os.chmod(tmp_path / "users", 0o600)
    assert result_of([store], secret="no colon here", rewrite=True)["in_parity"] is True
    assert (tmp_path / "users").read_text() == "inv:{PLAIN}no colon here:1:1\n"


@pytest.mark.parametrize("stores, message", [
    ([], "stores is empty"),
    ([dict(name="a", type="file", path="/x"), dict(name="a", type="file", path="/y")], "store name a is used twice"),
    ([dict(name="a", type="file")], r"store a \(file\): missing path"),
    ([dict(name="a", type="file", path="/x", section="s")], r"store a \(file\): option section does not apply to this type"),
    ([dict(name="a", type="ini", path="/x", key="k", host="h")], "option host does not apply"),
    ([dict(name="a", type="probe_smtp", host="h")], "missing username"),
    ([dict(name="a", type="probe_smtp", host="h", username="u", timeout=0)], "timeout must be positive"),
    ([dict(name="a", type="probe_imap", host="h", username="u", port=70000)], "port must be between 1 and 65535"),
    ([dict(name="d", type="passwd_file", path="/x", user="u", scheme="MD4")],
     r"store d \(passwd_file\): unknown or read-only password scheme MD4; the schemes a hash can be written with: .*SHA512-CRYPT"),
    ([dict(name="d", type="passwd_file", path="/x", user="u", passwd_fields="1:1\x0c")], "passwd_fields must be one line"),
    ([dict(name="a", type="ini", path="/x", key="password", section="s"),
      dict(name="b", type="ini", path="/x", key="PASSWORD", section="s")], r"stores a and b are the same copy \(/x \[s\] key PASSWORD\)"),
    ([dict(name="a", type="keychain", item="i", backend="file", path="/k"),
      dict(name="b", type="keychain", item="i", backend="file", path="/k/")], "stores a and b are the same copy"),
    ([dict(name="a", type="ini", path="/x", key="k"), dict(name="b", type="passwd_file", path="/x", user="u")],
     r"stores a, b all use /x, as a \(ini\), b \(passwd-file\): a file holds one format"),
    ([dict(name="a", type="file", path="/x"), dict(name="b", type="ini", path="/x", key="k")], "a file store owns the whole file"),
])
def test_bad_store_specs(stores, message):
    with pytest.raises(p.ParityInputError, match=message):
        p.build_stores([spec(**s) for s in stores])


def test_backend_systemd_creds_needs_the_binary():
    with pytest.raises(p.ParityInputError, match="backend systemd_creds needs the systemd-creds binary"):
        p.build_stores([spec(name="k", type="keychain", item="i", backend="systemd_creds")], {})


# --- secret-bearing files that others may read or change ------------------------------------------

def test_a_world_readable_file_gets_a_warning_naming_path_and_mode(rotation):
    tmp, stores = rotation
    os.chmod(tmp / "gateway.ini", 0o644)
    os.chmod(tmp / "keychain" / "imip-gateway.imap", 0o660)
    result, _diffs, warnings = run(stores, secret=NEW, rewrite=True)
    assert result["in_parity"] is True
    assert warnings == [
        "%s holds a copy of the password (gateway-smtp, gateway-imap) and is world-readable (mode 0644); "
        "fix: chmod o-rwx,g-w %s" % (tmp / "gateway.ini", tmp / "gateway.ini"),
        "%s holds a copy of the password (keychain-imap) and is group-writable (mode 0660); fix: chmod o-rwx,g-w %s"
        % (tmp / "keychain" / "imip-gateway.imap", tmp / "keychain" / "imip-gateway.imap"),
    ]
    assert stat.S_IMODE(os.stat(tmp / "gateway.ini").st_mode) == 0o644, "the mode is reported, not changed"


def test_insecure_files_fail_makes_them_errors_and_nothing_is_written(rotation):
    tmp, stores = rotation
    os.chmod(tmp / "users", 0o666)
    before = snapshot(tmp)
    result, diffs, warnings = run(stores, secret=NEW, rewrite=True, insecure_files="fail")
    assert warnings == [] and diffs == [] and snapshot(tmp) == before
    assert by_name(result)["dovecot-invites"]["status"] == "error"
    assert "group-writable and world-writable and world-readable (mode 0666)" in by_name(result)["dovecot-legacy"]["msg"]
    assert "nothing is written while a store cannot be read (dovecot-invites, dovecot-legacy)" in by_name(result)["gateway-smtp"]["msg"]


def test_a_private_file_gets_no_warning(site):
    _tmp, stores = site
    assert run(stores, secret=PASSWORD)[2] == []


# --- comparing with a secret -----------------------------------------------------------------

def test_every_store_type_with_the_secret(site):
    _tmp, stores = site
    result, diffs, _warnings = run(stores, secret=PASSWORD)
    status = dict((n, s["status"]) for n, s in by_name(result).items())
    assert status == {"keychain-smtp": "match", "gateway-smtp": "drift", "gateway-imap": "match",
                      "imap-file": "match", "dovecot-user": "match"}
    assert result["drifted"] == ["gateway-smtp"] and result["in_parity"] is False
    assert result["groups"] == [] and diffs == [] and result["changed"] is False
    assert by_name(result)["gateway-smtp"]["msg"].endswith("[smtp] key password holds a different value")
    assert all(s["writable"] for s in result["stores"])


def test_missing_file_key_user_and_item(tmp_path):
    (tmp_path / "gw.ini").write_text("[smtp]\nhost = x\n")
    (tmp_path / "users").write_text("alice:{PLAIN}a\n")
    result = result_of([
        dict(name="no-file", type="file", path=str(tmp_path / "absent")),
        dict(name="no-key", type="ini", path=str(tmp_path / "gw.ini"), section="smtp", key="password"),
        dict(name="no-section", type="ini", path=str(tmp_path / "gw.ini"), section="imap", key="password"),
        dict(name="no-user", type="passwd_file", path=str(tmp_path / "users"), user="bob"),
        dict(name="no-item", type="keychain", item="x", backend="file", path=str(tmp_path / "kc")),
    ], secret=PASSWORD)
    assert set(s["status"] for s in result["stores"]) == {"missing"}
    assert result["in_parity"] is False and result["drifted"] == []


# {PLAIN} of the test password (it contains ':') cannot live in a passwd-file, where ':' separates
# fields (Dovecot itself would read a truncated password): its doveadm hash is verified in
# test_dovecot_hash, and writing it is refused (test_plain_scheme_cannot_hold_a_colon).
@pytest.mark.parametrize("scheme", sorted(s for s in DOVEADM if s != "PLAIN"))
def test_passwd_file_every_doveadm_scheme_matches_and_is_not_rewritten(tmp_path, scheme):
    users = tmp_path / "users"
    content = "calendar-invites:%s:5000:5000::/var/mail/invites::\n" % DOVEADM[scheme]
    users.write_text(content, encoding="utf-8")
    store = dict(name="dovecot", type="passwd_file", path=str(users), user="calendar-invites")
    result = result_of([store], secret=PASSWORD, rewrite=True)
    assert by_name(result)["dovecot"]["status"] == "match"
    assert result["changed"] is False and result["in_parity"] is True
    assert users.read_text(encoding="utf-8") == content, "a verified hash is never rewritten"
    if scheme != "DES-CRYPT":  # DES compares 8 characters only
        assert by_name(result_of([store], secret=OTHER))["dovecot"]["status"] == "drift"


@pytest.mark.parametrize("scheme", ["SHA512-CRYPT", "BLF-CRYPT", "ARGON2ID", "SSHA512", "SHA256-CRYPT", "ARGON2I", "SSHA256"])
def test_passwd_file_rewrite_with_each_written_scheme(tmp_path, scheme):
    users = tmp_path / "users"
    users.write_text("# users\ninv:%s:5000:5000::/var/mail/inv::extra\nbob:{PLAIN}bob\n" % dh.make(OTHER, "SHA512-CRYPT"))
    store = dict(name="dovecot", type="passwd_file", path=str(users), user="inv", scheme=scheme)
    result = result_of([store], secret=PASSWORD, rewrite=True)
    assert result["changed"] is True and result["in_parity"] is True
    lines = users.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# users" and lines[2] == "bob:{PLAIN}bob"
    user, field, rest = lines[1].split(":", 2)
    assert (user, rest) == ("inv", "5000:5000::/var/mail/inv::extra")
    assert field.startswith("{%s}" % scheme) and dh.verify(PASSWORD, field)
    assert result_of([store], secret=PASSWORD, rewrite=True)["changed"] is False, "second run: nothing to do"


def test_unknown_scheme_in_file_is_named_by_line_not_quoted(tmp_path):
    (tmp_path / "users").write_text("# x\ninv:{SCRAM-SHA-256}abc\n")
    store = by_name(result_of([dict(name="dovecot", type="passwd_file", path=str(tmp_path / "users"), user="inv")],
                              secret=PASSWORD))["dovecot"]
    assert store["status"] == "error"
    assert store["msg"].startswith("%s line 2 (user inv): the password field has an unknown {SCHEME} prefix; supported: "
                                   % (tmp_path / "users"))
    assert "SCRAM" not in store["msg"], "file content is never quoted"


# --- audit mode --------------------------------------------------------------------------------

def test_audit_finds_the_odd_one_out(site):
    _tmp, stores = site
    result = result_of(stores)
    assert result["groups"] == [["keychain-smtp", "gateway-imap", "imap-file", "dovecot-user"], ["gateway-smtp"]]
    assert result["drifted"] == ["gateway-smtp"] and result["in_parity"] is False
    assert by_name(result)["dovecot-user"]["status"] == "match"  # the hash joined the majority


def test_audit_tie_presumes_no_group_right(tmp_path):
    for name, value in (("a", "one"), ("b", "one"), ("c", "two"), ("d", "two"), ("e", "three")):
        (tmp_path / name).write_text(value)
    result = result_of([dict(name=n, type="file", path=str(tmp_path / n)) for n in "abcde"])
    assert result["groups"] == [["a", "b"], ["c", "d"], ["e"]]
    assert result["drifted"] == ["a", "b", "c", "d", "e"] and result["in_parity"] is False
    assert "no majority" in by_name(result)["a"]["msg"]


def test_audit_all_agree(tmp_path):
    (tmp_path / "a").write_text(PASSWORD)
    (tmp_path / "users").write_text("u:%s\n" % DOVEADM["ARGON2ID"], encoding="utf-8")
    result = result_of([dict(name="a", type="file", path=str(tmp_path / "a")),
                        dict(name="u", type="passwd_file", path=str(tmp_path / "users"), user="u")])
    assert result["groups"] == [["a", "u"]] and result["in_parity"] is True and result["drifted"] == []


def test_audit_hash_matching_no_value_is_its_own_group(tmp_path):
    (tmp_path / "a").write_text(PASSWORD)
    (tmp_path / "b").write_text(PASSWORD)
    (tmp_path / "users").write_text("u:%s\n" % dh.make(OTHER, "BLF-CRYPT"))
    result = result_of([dict(name="a", type="file", path=str(tmp_path / "a")),
                        dict(name="b", type="file", path=str(tmp_path / "b")),
                        dict(name="u", type="passwd_file", path=str(tmp_path / "users"), user="u")])
    assert result["groups"] == [["a", "b"], ["u"]] and result["drifted"] == ["u"]


def test_audit_without_any_readable_value(tmp_path):
    (tmp_path / "users").write_text("u:%s\n" % DOVEADM["SHA512-CRYPT"])
    result = result_of([dict(name="u", type="passwd_file", path=str(tmp_path / "users"), user="u")])
    assert by_name(result)["u"]["status"] == "error" and "without a secret" in by_name(result)["u"]["msg"]


# --- rewriting ---------------------------------------------------------------------------------

def test_check_mode_reports_and_writes_nothing(rotation):
    tmp, stores = rotation
    before = snapshot(tmp)
    result, diffs, _warnings = run(stores, secret=NEW, rewrite=True, check_mode=True)
    assert snapshot(tmp) == before
    assert result["changed"] is True and result["in_parity"] is False
    assert all(s["changed"] and s["msg"].endswith("; would rewrite") for s in result["stores"])
    assert [d["before_header"].split(" ")[0] for d in diffs] == [s["name"] for s in stores]
    assert diffs[2]["before_header"] == "gateway-smtp (%s [smtp] key password)" % (tmp / "gateway.ini")
    assert NEW not in str(diffs) and OTHER not in str(diffs)


def test_rewrite_fixes_only_the_drifted_copy_keeping_attributes(site):
    tmp, stores = site
    ini = tmp / "gateway.ini"
    os.chmod(ini, 0o640)
    os.chown(ini, 0, 4)
    others = dict((f, b) for f, (b, _m, _mode) in snapshot(tmp).items() if not f.endswith("gateway.ini"))
    result, diffs, _warnings = run(stores, secret=PASSWORD, rewrite=True)
    assert result["in_parity"] is True and result["changed"] is True and result["drifted"] == ["gateway-smtp"]
    assert by_name(result)["gateway-smtp"]["msg"].endswith("; rewritten")
    assert ini.read_text(encoding="utf-8") == GATEWAY_INI.format(smtp=PASSWORD, imap=PASSWORD)
    st = os.stat(ini)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, 4)
    assert dict((f, b) for f, (b, _m, _mode) in snapshot(tmp).items() if not f.endswith("gateway.ini")) == others
    assert len(diffs) == 1
    result, diffs, _warnings = run(stores, secret=PASSWORD, rewrite=True)
    assert result["changed"] is False and result["in_parity"] is True and result["drifted"] == [] and diffs == []


def test_nothing_is_written_while_a_store_cannot_be_read(rotation):
    tmp, stores = rotation
    (tmp / "unreadable").mkdir()
    stores = stores + [dict(name="broken", type="file", path=str(tmp / "unreadable"))]
    before = snapshot(tmp)
    result, diffs, _warnings = run(stores, secret=NEW, rewrite=True)
    assert snapshot(tmp) == before and diffs == [] and result["changed"] is False
    broken = by_name(result)["broken"]
    assert broken["status"] == "error" and broken["msg"] == "cannot read %s: Is a directory" % (tmp / "unreadable")
    assert by_name(result)["gateway-smtp"]["status"] == "drift"
    assert "not rewritten: nothing is written while a store cannot be read (broken)" in by_name(result)["gateway-smtp"]["msg"]


def test_nothing_is_written_when_one_write_cannot_be_prepared(rotation, monkeypatch):
    tmp, stores = rotation
    before = snapshot(tmp)

    def no_backend(secret, scheme_name):
        raise dh.SchemeError("scheme ARGON2ID needs passlib's argon2 backend: install python3-argon2")

    monkeypatch.setattr(dh, "make", no_backend)
    result = result_of(stores, secret=NEW, rewrite=True)
    assert snapshot(tmp) == before and result["changed"] is False and result["in_parity"] is False
    assert by_name(result)["dovecot-invites"]["status"] == "error"
    assert "rewrite failed: cannot hash for" in by_name(result)["dovecot-invites"]["msg"]
    assert by_name(result)["keychain-smtp"]["msg"].endswith(
        "; not rewritten: dovecot-invites could not be prepared, so nothing was written")


def test_a_write_that_fails_is_an_error_for_the_stores_of_that_file(rotation, monkeypatch):
    # A read-only file system cannot be had on demand as root: the write is made to fail.
    tmp, stores = rotation
    from ansible_collections.imip.server.plugins.module_utils.parity import shared_file
    real = shared_file.atomic_write

    def read_only_ini(path, data, new_mode=0o600):
        if path.endswith("gateway.ini"):
            raise OSError(30, "Read-only file system")
        return real(path, data, new_mode)

    monkeypatch.setattr(shared_file, "atomic_write", read_only_ini)
    result = result_of(stores, secret=NEW, rewrite=True)
    for name in ("gateway-smtp", "gateway-imap"):
        assert by_name(result)[name]["status"] == "error" and by_name(result)[name]["changed"] is False
        assert by_name(result)[name]["msg"].endswith("; rewrite failed: cannot write %s: Read-only file system" % (tmp / "gateway.ini"))
    assert by_name(result)["keychain-smtp"]["msg"].endswith("; rewritten")
    assert result["in_parity"] is False


def test_unreadable_store_reports_os_reason_and_others(tmp_path):
    (tmp_path / "a").write_text(PASSWORD)
    (tmp_path / "plain").write_text("x")
    result = result_of([dict(name="a", type="file", path=str(tmp_path / "a")),
                        dict(name="b", type="ini", path=str(tmp_path / "plain" / "gw.ini"), section="s", key="k"),
                        dict(name="c", type="passwd_file", path=str(tmp_path), user="u")], secret=PASSWORD)
    s = by_name(result)
    assert s["a"]["status"] == "match"
    assert s["b"]["status"] == "error" and s["b"]["msg"] == "cannot read %s/plain/gw.ini: Not a directory" % tmp_path
    assert s["c"]["status"] == "error" and s["c"]["msg"] == "cannot read %s: Is a directory" % tmp_path


def test_non_utf8_file_names_the_line(tmp_path):
    (tmp_path / "gw.ini").write_bytes(b"[s]\nk = ok\nj = \xff\n")
    result = result_of([dict(name="b", type="ini", path=str(tmp_path / "gw.ini"), section="s", key="k")], secret=PASSWORD)
    assert by_name(result)["b"]["msg"].endswith("gw.ini line 3: not UTF-8 text")


def test_malformed_files_are_store_errors_with_line_numbers(tmp_path):
    (tmp_path / "gw.ini").write_text("[s]\nk = v\noops\n")
    (tmp_path / "users").write_text("u:x\nnocolon\n")
    result = result_of([dict(name="i", type="ini", path=str(tmp_path / "gw.ini"), section="s", key="k"),
                        dict(name="u", type="passwd_file", path=str(tmp_path / "users"), user="u")], secret=PASSWORD)
    assert by_name(result)["i"]["msg"] == "%s line 3: malformed (expected [section], key = value or a comment)" % (tmp_path / "gw.ini")
    assert by_name(result)["u"]["msg"].startswith("%s line 2: malformed" % (tmp_path / "users"))


def test_create_only_with_create_true(tmp_path):
    specs = [dict(name="f", type="file", path=str(tmp_path / "new.pass")),
             dict(name="i", type="ini", path=str(tmp_path / "new.ini"), section="smtp", key="password"),
             dict(name="j", type="ini", path=str(tmp_path / "new.ini"), section="imap", key="password"),
             dict(name="k", type="keychain", item="x", backend="file", path=str(tmp_path / "kc")),
             dict(name="u", type="passwd_file", path=str(tmp_path / "users"), user="inv")]
    result = result_of(specs, secret=PASSWORD, rewrite=True)
    assert result["changed"] is False and list(tmp_path.iterdir()) == []
    assert "not created (set create: true" in by_name(result)["f"]["msg"]
    for s in specs:
        s["create"] = True
    result = result_of(specs, secret=PASSWORD, rewrite=True)
    assert "not created: a new user needs passwd_fields" in by_name(result)["u"]["msg"]
    assert by_name(result)["f"]["msg"].endswith("; not rewritten: nothing is written while a copy this run does not write is stale (u)")
    assert result["changed"] is False and list(tmp_path.iterdir()) == [], "one copy would stay stale: nothing written"
    specs[4]["passwd_fields"] = "5000:5000::/var/mail/inv::"
    result = result_of(specs, secret=PASSWORD, rewrite=True)
    assert [s["changed"] for s in result["stores"]] == [True] * 5 and result["in_parity"] is True
    assert by_name(result)["i"]["msg"].endswith("does not exist; created")
    assert (tmp_path / "new.pass").read_text() == PASSWORD
    assert (tmp_path / "new.ini").read_text() == "[smtp]\npassword = %s\n\n[imap]\npassword = %s\n" % (PASSWORD, PASSWORD)
    assert stat.S_IMODE(os.stat(tmp_path / "new.ini").st_mode) == 0o600
    field = (tmp_path / "users").read_text().split(":")
    assert field[0] == "inv" and field[1].startswith("{SHA512-CRYPT}$6$") and field[2:] == ["5000", "5000", "", "/var/mail/inv", "", "\n"]


def test_readonly_store_is_compared_not_written(site):
    tmp, stores = site
    stores[1]["readonly"] = True
    before = (tmp / "gateway.ini").read_bytes()
    result = result_of(stores, secret=PASSWORD, rewrite=True)
    smtp = by_name(result)["gateway-smtp"]
    assert smtp["writable"] is False and smtp["changed"] is False and "readonly" in smtp["msg"]
    assert (tmp / "gateway.ini").read_bytes() == before and result["in_parity"] is False


def test_a_stale_readonly_copy_stops_every_write(rotation):
    """The invitation_account role after a rotation, run before the mail role rehashed the account:
    rewriting the gateway's copies would break a gateway that still works with the old password."""
    tmp, stores = rotation
    stores[5]["readonly"] = True  # dovecot-invites: another role writes it
    before = snapshot(tmp)
    result, diffs, _warnings = run(stores, secret=NEW, rewrite=True)
    assert snapshot(tmp) == before and diffs == [] and result["changed"] is False and result["in_parity"] is False
    assert by_name(result)["dovecot-invites"]["msg"].endswith("does not verify the password; not rewritten: the store is readonly")
    assert by_name(result)["keychain-smtp"]["msg"].endswith(
        "; not rewritten: nothing is written while a copy this run does not write is stale (dovecot-invites)")
    # --check shows the whole remediation: what a run would rewrite once the other tool has run
    check, diffs, _warnings = run(stores, secret=NEW, rewrite=True, check_mode=True)
    assert snapshot(tmp) == before and check["changed"] is True and len(diffs) == len(stores) - 1
    assert by_name(check)["keychain-smtp"]["msg"].endswith(
        "; would rewrite once dovecot-invites holds the password (not written by this run)")
    assert by_name(check)["dovecot-invites"]["changed"] is False
    # Once the other role has rehashed the account, one run rewrites the rest.
    users = tmp / "users"
    users.write_text(users.read_text().replace(users.read_text().split("\n")[1].split(":")[1], dh.make(NEW, "SHA512-CRYPT")))
    result = result_of(stores, secret=NEW, rewrite=True)
    assert result["in_parity"] is True and by_name(result)["dovecot-invites"]["changed"] is False


def test_a_readonly_store_may_hold_a_secret_its_scheme_could_not_write(tmp_path):
    """Scheme limits are about writing: a readonly store only verifies."""
    (tmp_path / "users").write_text("u:%s\n" % dh.make("p" * 80, "SHA512-CRYPT"))
    store = dict(name="d", type="passwd_file", path=str(tmp_path / "users"), user="u", scheme="BLF-CRYPT", readonly=True)
    assert result_of([store], secret="p" * 80, rewrite=True)["in_parity"] is True


# --- probes (a refused connection; real servers are in test_probes) --------------------------------

@pytest.mark.parametrize("kind, security", [("probe_smtp", "starttls"), ("probe_smtp", "tls"), ("probe_smtp", "none"),
                                            ("probe_imap", "tls"), ("probe_imap", "starttls"), ("probe_imap", "none")])
def test_probe_that_cannot_connect_is_an_error_with_host_port_reason(kind, security):
    port = closed_port()
    result = result_of([dict(name="live", type=kind, host="127.0.0.1", port=port, username="inv", security=security)],
                       secret=PASSWORD)
    live = by_name(result)["live"]
    assert live["status"] == "error" and live["writable"] is False
    assert live["msg"] == "%s 127.0.0.1:%d: cannot connect: Connection refused" % (kind[6:].upper(), port)
    assert result["drifted"] == [] and result["in_parity"] is False


def test_probes_run_after_rewrites_and_in_audits(site):
    _tmp, stores = site
    port = closed_port()
    stores.append(dict(name="live", type="probe_smtp", host="127.0.0.1", port=port, username="inv"))
    result = result_of(stores, secret=PASSWORD, rewrite=True)
    assert by_name(result)["gateway-smtp"]["changed"] is True, "a probe error does not block rewrites"
    assert by_name(result)["live"]["status"] == "error" and result["in_parity"] is False
    result = result_of(stores)
    assert by_name(result)["live"]["status"] == "error"
    assert all("live" not in g for g in result["groups"])


def test_probe_defaults():
    smtp = p.build_stores([spec(name="s", type="probe_smtp", host="h", username="u")])[0]
    imap = p.build_stores([spec(name="i", type="probe_imap", host="h", username="u")])[0]
    assert (smtp.endpoint.security, smtp.endpoint.port, imap.endpoint.security, imap.endpoint.port) == ("starttls", 587, "tls", 993)


@needs_systemd_creds
def test_keychain_store_with_systemd_creds(tmp_path):
    context = dict(systemd_creds_bin=kc.find_systemd_creds(), run=run_subprocess)
    store = dict(name="kc", type="keychain", item="imip-gateway.smtp", backend="systemd_creds",
                 path=str(tmp_path / "credstore.encrypted"), create=True)
    result = result_of([store], secret=OTHER, rewrite=True, context=context)
    assert by_name(result)["kc"]["status"] == "missing" and result["changed"] is True and result["in_parity"] is True
    cred = tmp_path / "credstore.encrypted" / "imip-gateway.smtp.cred"
    encrypted = cred.read_bytes()
    result = result_of([store], secret=OTHER, rewrite=True, context=context)
    assert result["changed"] is False and cred.read_bytes() == encrypted
    result = result_of([store], secret=PASSWORD, rewrite=True, context=context)
    assert by_name(result)["kc"]["status"] == "drift" and result["changed"] is True
    assert kc.Keychain("systemd_creds", str(tmp_path / "credstore.encrypted"), run=run_subprocess).read("imip-gateway.smtp") == PASSWORD
