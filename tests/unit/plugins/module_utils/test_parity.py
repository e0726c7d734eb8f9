# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The parity engine: every store type, audit grouping, rewriting, check mode, errors."""

from __future__ import annotations

import os
import socket
import stat

import pytest

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh
from ansible_collections.imip.server.plugins.module_utils import _keychain as kc
from ansible_collections.imip.server.plugins.module_utils import _parity as p

from ..conftest import GATEWAY_INI, OTHER
from .test_dovecot_hash import DOVEADM, PASSWORD
from .test_keychain import needs_systemd_creds, run_subprocess


def spec(**kw):
    full = dict((k, None) for k in p.STORE_OPTIONS)
    full.update(kw)
    return full


def run(specs, secret=None, rewrite=False, check_mode=False, context=None):
    stores = p.build_stores([spec(**s) for s in specs], context or {})
    return p.run(stores, secret=secret, rewrite=rewrite, check_mode=check_mode)


def run_result(specs, secret=None, rewrite=False, check_mode=False):
    return run(specs, secret=secret, rewrite=rewrite, check_mode=check_mode)[0]


def by_name(result):
    return dict((s["name"], s) for s in result["stores"])


def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# --- ini editor ------------------------------------------------------------------------------

def test_ini_reads_the_value_verbatim():
    doc = p.IniDocument(GATEWAY_INI.format(smtp="a=b:c #d ;e", imap="x"))
    assert doc.value("smtp", "password") == "a=b:c #d ;e"
    assert doc.value("smtp", "PASSWORD") == "a=b:c #d ;e"  # keys are case-insensitive
    assert doc.value("caldav", "password") == "unrelated = value : kept"
    assert doc.value("SMTP", "password") is p.MISSING_VALUE  # sections are not
    assert doc.value("imap", "nokey") is p.MISSING_VALUE


def test_ini_set_changes_only_that_value():
    before = GATEWAY_INI.format(smtp=OTHER, imap=PASSWORD)
    after = p.IniDocument(before).set("smtp", "password", PASSWORD)
    old_lines, new_lines = before.splitlines(True), after.splitlines(True)
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b]
    assert len(old_lines) == len(new_lines) and changed == [6]
    assert new_lines[6] == "Password = %s\n" % PASSWORD  # key spelling and spacing kept


def test_ini_set_keeps_crlf_and_missing_final_newline():
    text = "[smtp]\r\npassword =  old  \r\nhost = x"
    assert p.IniDocument(text).set("smtp", "password", "new") == "[smtp]\r\npassword =  new  \r\nhost = x"


def test_ini_adds_a_missing_key_at_the_end_of_its_section():
    text = "[smtp]\nhost = x\n\n[imap]\nhost = y\n"
    assert p.IniDocument(text).set("smtp", "password", "new") == "[smtp]\nhost = x\npassword = new\n\n[imap]\nhost = y\n"
    assert p.IniDocument("[smtp]\n# only a comment\n").set("smtp", "password", "n") == "[smtp]\npassword = n\n# only a comment\n"


def test_ini_adds_a_missing_section_and_keys_before_the_first_section():
    text = "[smtp]\nhost = x"
    assert p.IniDocument(text).set("imap", "password", "n") == "[smtp]\nhost = x\n\n[imap]\npassword = n\n"
    assert p.IniDocument("# c\n[smtp]\n").set(None, "password", "n") == "# c\npassword = n\n[smtp]\n"
    assert p.IniDocument("").set("s", "k", "v") == "[s]\nk = v\n"


def test_ini_malformed_line_is_named():
    with pytest.raises(p.StoreError, match=r"gw.ini line 4: malformed"):
        p.IniDocument("[smtp]\nhost = x\n\njust some words\n", "gw.ini")


def test_ini_duplicate_key_is_an_error_with_both_lines():
    with pytest.raises(p.StoreError, match=r"lines 2, 4: key password appears more than once in section \[smtp\]"):
        p.IniDocument("[smtp]\npassword = a\n[imap]\nPassword = b\n[smtp]\n".replace("[imap]", "[smtp]")).value("smtp", "password")


# --- passwd-file -----------------------------------------------------------------------------

def test_passwd_file_changes_only_the_password_field():
    text = "# c\nu1:{PLAIN}a:1:1::/h::x=y:z\r\nu2:{PLAIN}b\n"
    doc = p.PasswdFile(text)
    assert doc.password_field("u1") == ("{PLAIN}a", 2)
    assert doc.set("u1", "{PLAIN}new") == "# c\nu1:{PLAIN}new:1:1::/h::x=y:z\r\nu2:{PLAIN}b\n"
    assert doc.set("u2", "{PLAIN}n") == "# c\nu1:{PLAIN}a:1:1::/h::x=y:z\r\nu2:{PLAIN}n\n"
    assert doc.set("u3", "{PLAIN}n", "1:1::/h::") == text + "u3:{PLAIN}n:1:1::/h::\n"
    assert p.PasswdFile("u1:x").set("u3", "{PLAIN}n", "") == "u1:x\nu3:{PLAIN}n\n"


def test_passwd_file_plain_scheme_is_written_when_it_fits(tmp_path):
    (tmp_path / "users").write_text("inv:{PLAIN}old:1:1\n")
    store = dict(name="d", type="passwd_file", path=str(tmp_path / "users"), user="inv", scheme="PLAIN")
    result = run([store], secret="no colon here", rewrite=True)[0]
    assert result["in_parity"] is True and (tmp_path / "users").read_text() == "inv:{PLAIN}no colon here:1:1\n"


@pytest.mark.parametrize("bad", ["no-colon-here", ":{PLAIN}x", " u:{PLAIN}x"])
def test_passwd_file_malformed_line_is_named(bad):
    with pytest.raises(p.StoreError, match=r"users line 3: malformed"):
        p.PasswdFile("# c\nu:{PLAIN}x\n%s\n" % bad, "users")


def test_passwd_file_duplicate_user_is_an_error():
    with pytest.raises(p.StoreError, match=r"users lines 1, 3: user u appears more than once"):
        p.PasswdFile("u:a\nv:b\nu:c\n", "users").password_field("u")


# --- comparing with a secret -----------------------------------------------------------------

def test_every_store_type_with_the_secret(site):
    _tmp, stores = site
    result, diffs = run(stores, secret=PASSWORD)
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
    result = run_result([
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
# test_dovecot_hash, and writing it is refused (test_passwd_file_rewrite_with_each_written_scheme).
@pytest.mark.parametrize("scheme", sorted(s for s in DOVEADM if s != "PLAIN"))
def test_passwd_file_every_doveadm_scheme_matches_and_is_not_rewritten(tmp_path, scheme):
    users = tmp_path / "users"
    content = "calendar-invites:%s:5000:5000::/var/mail/invites::\n" % DOVEADM[scheme]
    users.write_text(content, encoding="utf-8")
    store = dict(name="dovecot", type="passwd_file", path=str(users), user="calendar-invites")
    result = run([store], secret=PASSWORD, rewrite=True)[0]
    assert by_name(result)["dovecot"]["status"] == "match"
    assert result["changed"] is False and result["in_parity"] is True
    assert users.read_text(encoding="utf-8") == content, "a verified hash is never rewritten"
    if scheme != "DES-CRYPT":  # DES compares 8 characters only
        result = run([store], secret=OTHER)[0]
        assert by_name(result)["dovecot"]["status"] == "drift"


@pytest.mark.parametrize("scheme", ["SHA512-CRYPT", "BLF-CRYPT", "ARGON2ID", "SSHA512", "SHA256-CRYPT", "ARGON2I", "SSHA256", "PLAIN"])
def test_passwd_file_rewrite_with_each_written_scheme(tmp_path, scheme):
    users = tmp_path / "users"
    users.write_text("# users\ninv:%s:5000:5000::/var/mail/inv::extra\nbob:{PLAIN}bob\n" % dh.make(OTHER, "SHA512-CRYPT"))
    store = dict(name="dovecot", type="passwd_file", path=str(users), user="inv", scheme=scheme)
    if scheme == "PLAIN":
        with pytest.raises(p.ParityInputError, match="PLAIN cannot hold a password containing ':'"):
            run([store], secret=PASSWORD, rewrite=True)
        return
    result = run([store], secret=PASSWORD, rewrite=True)[0]
    assert result["changed"] is True and result["in_parity"] is True
    lines = users.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# users" and lines[2] == "bob:{PLAIN}bob"
    user, field, rest = lines[1].split(":", 2)
    assert (user, rest) == ("inv", "5000:5000::/var/mail/inv::extra")
    assert field.startswith("{%s}" % scheme) and dh.verify(PASSWORD, field)
    result = run([store], secret=PASSWORD, rewrite=True)[0]
    assert result["changed"] is False, "second run: nothing to do"


def test_unknown_scheme_in_file_names_scheme_store_and_supported_list(tmp_path):
    (tmp_path / "users").write_text("# x\ninv:{SCRAM-SHA-256}abc\n")
    result = run([dict(name="dovecot", type="passwd_file", path=str(tmp_path / "users"), user="inv")], secret=PASSWORD)[0]
    store = by_name(result)["dovecot"]
    assert store["status"] == "error"
    assert "users line 2 (user inv): unknown password scheme {SCRAM-SHA-256}" in store["msg"]
    assert "SHA512-CRYPT" in store["msg"] and "ARGON2ID" in store["msg"]


def test_unknown_scheme_option_is_an_input_error(tmp_path):
    with pytest.raises(p.ParityInputError, match=r"store dovecot \(passwd_file\): unknown scheme MD4; supported for writing: .*SHA512-CRYPT"):
        run([dict(name="dovecot", type="passwd_file", path="/x", user="u", scheme="MD4")], secret=PASSWORD)


# --- audit mode --------------------------------------------------------------------------------

def test_audit_finds_the_odd_one_out(site):
    _tmp, stores = site
    result = run(stores)[0]
    assert result["groups"] == [["keychain-smtp", "gateway-imap", "imap-file", "dovecot-user"], ["gateway-smtp"]]
    assert result["drifted"] == ["gateway-smtp"] and result["in_parity"] is False
    assert by_name(result)["dovecot-user"]["status"] == "match"  # the hash joined the majority


def test_audit_tie_presumes_no_group_right(tmp_path):
    for name, value in (("a", "one"), ("b", "one"), ("c", "two"), ("d", "two"), ("e", "three")):
        (tmp_path / name).write_text(value)
    result = run([dict(name=n, type="file", path=str(tmp_path / n)) for n in "abcde"])[0]
    assert result["groups"] == [["a", "b"], ["c", "d"], ["e"]]
    assert result["drifted"] == ["a", "b", "c", "d", "e"] and result["in_parity"] is False
    assert "no majority" in by_name(result)["a"]["msg"]


def test_audit_all_agree(tmp_path):
    (tmp_path / "a").write_text(PASSWORD)
    (tmp_path / "users").write_text("u:%s\n" % DOVEADM["ARGON2ID"], encoding="utf-8")
    result = run_result([dict(name="a", type="file", path=str(tmp_path / "a")),
                         dict(name="u", type="passwd_file", path=str(tmp_path / "users"), user="u")])
    assert result["groups"] == [["a", "u"]] and result["in_parity"] is True and result["drifted"] == []


def test_audit_hash_matching_no_value_is_its_own_group(tmp_path):
    (tmp_path / "a").write_text(PASSWORD)
    (tmp_path / "b").write_text(PASSWORD)
    (tmp_path / "users").write_text("u:%s\n" % dh.make(OTHER, "BLF-CRYPT"))
    result = run_result([dict(name="a", type="file", path=str(tmp_path / "a")),
                         dict(name="b", type="file", path=str(tmp_path / "b")),
                         dict(name="u", type="passwd_file", path=str(tmp_path / "users"), user="u")])
    assert result["groups"] == [["a", "b"], ["u"]] and result["drifted"] == ["u"]


def test_audit_without_any_readable_value(tmp_path):
    (tmp_path / "users").write_text("u:%s\n" % DOVEADM["SHA512-CRYPT"])
    result = run([dict(name="u", type="passwd_file", path=str(tmp_path / "users"), user="u")])[0]
    assert by_name(result)["u"]["status"] == "error" and "without a secret" in by_name(result)["u"]["msg"]


# --- rewriting ---------------------------------------------------------------------------------

def _snapshot(directory):
    return dict((str(f), (f.read_bytes(), os.stat(f).st_mtime_ns, stat.S_IMODE(os.stat(f).st_mode)))
                for f in directory.rglob("*") if f.is_file())


def test_check_mode_reports_and_writes_nothing(site):
    tmp, stores = site
    before = _snapshot(tmp)
    result, diffs = run(stores, secret=PASSWORD, rewrite=True, check_mode=True)
    assert _snapshot(tmp) == before
    assert result["changed"] is True and result["in_parity"] is False
    smtp = by_name(result)["gateway-smtp"]
    assert smtp["changed"] is True and smtp["msg"].endswith("; would rewrite")
    assert [s["name"] for s in result["stores"] if s["changed"]] == ["gateway-smtp"]
    assert len(diffs) == 1 and diffs[0]["before_header"].startswith("gateway-smtp (") and "[smtp] key password" in diffs[0]["before_header"]
    assert PASSWORD not in str(diffs) and OTHER not in str(diffs)


def test_rewrite_fixes_only_the_drifted_copy_then_nothing_changes(site):
    tmp, stores = site
    ini = tmp / "gateway.ini"
    os.chmod(ini, 0o640)
    os.chown(ini, 0, 4)
    others = dict((f, b) for f, (b, _m, _mode) in _snapshot(tmp).items() if not f.endswith("gateway.ini"))
    result, diffs = run(stores, secret=PASSWORD, rewrite=True)
    assert result["in_parity"] is True and result["changed"] is True and result["drifted"] == ["gateway-smtp"]
    assert by_name(result)["gateway-smtp"]["msg"].endswith("; rewritten")
    assert ini.read_text(encoding="utf-8") == GATEWAY_INI.format(smtp=PASSWORD, imap=PASSWORD)
    st = os.stat(ini)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, 4)
    assert dict((f, b) for f, (b, _m, _mode) in _snapshot(tmp).items() if not f.endswith("gateway.ini")) == others
    assert len(diffs) == 1
    result, diffs = run(stores, secret=PASSWORD, rewrite=True)
    assert result["changed"] is False and result["in_parity"] is True and result["drifted"] == [] and diffs == []


def test_every_writable_type_is_rewritten(site):
    tmp, stores = site
    result = run(stores, secret="Brand-New-Password-8", rewrite=True)[0]
    assert result["in_parity"] is True
    assert [s["changed"] for s in result["stores"]] == [True] * 5
    assert (tmp / "keychain" / "imip-gateway.smtp").read_text() == "Brand-New-Password-8"
    assert (tmp / "imap.pass").read_text() == "Brand-New-Password-8\n", "the trailing newline is kept"
    assert "Brand-New-Password-8" not in (tmp / "users").read_text()


def test_nothing_is_written_while_a_store_cannot_be_read(site):
    tmp, stores = site
    (tmp / "unreadable").mkdir()
    stores = stores + [dict(name="broken", type="file", path=str(tmp / "unreadable"))]
    before = _snapshot(tmp)
    result, diffs = run(stores, secret=PASSWORD, rewrite=True)
    assert _snapshot(tmp) == before and diffs == [] and result["changed"] is False
    broken = by_name(result)["broken"]
    assert broken["status"] == "error" and broken["msg"] == "cannot read %s: Is a directory" % (tmp / "unreadable")
    assert by_name(result)["gateway-smtp"]["status"] == "drift"
    assert "not rewritten: nothing is written while a store cannot be read (broken)" in by_name(result)["gateway-smtp"]["msg"]
    assert by_name(result)["gateway-imap"]["status"] == "match", "the other stores are still reported"


def test_unreadable_store_reports_os_reason_and_others(tmp_path):
    (tmp_path / "a").write_text(PASSWORD)
    (tmp_path / "plain").write_text("x")
    result = run_result([dict(name="a", type="file", path=str(tmp_path / "a")),
                         dict(name="b", type="ini", path=str(tmp_path / "plain" / "gw.ini"), section="s", key="k"),
                         dict(name="c", type="passwd_file", path=str(tmp_path), user="u")], secret=PASSWORD)
    s = by_name(result)
    assert s["a"]["status"] == "match"
    assert s["b"]["status"] == "error" and s["b"]["msg"] == "cannot read %s/plain/gw.ini: Not a directory" % tmp_path
    assert s["c"]["status"] == "error" and s["c"]["msg"] == "cannot read %s: Is a directory" % tmp_path


def test_non_utf8_file_names_the_line(tmp_path):
    (tmp_path / "gw.ini").write_bytes(b"[s]\nk = ok\nj = \xff\n")
    result = run([dict(name="b", type="ini", path=str(tmp_path / "gw.ini"), section="s", key="k")], secret=PASSWORD)[0]
    assert by_name(result)["b"]["msg"].endswith("gw.ini line 3: not UTF-8 text")


def test_malformed_files_are_store_errors_with_line_numbers(tmp_path):
    (tmp_path / "gw.ini").write_text("[s]\nk = v\noops\n")
    (tmp_path / "users").write_text("u:x\nnocolon\n")
    result = run_result([dict(name="i", type="ini", path=str(tmp_path / "gw.ini"), section="s", key="k"),
                         dict(name="u", type="passwd_file", path=str(tmp_path / "users"), user="u")], secret=PASSWORD)
    assert by_name(result)["i"]["msg"] == "%s line 3: malformed (expected [section], key = value or a comment)" % (tmp_path / "gw.ini")
    assert by_name(result)["u"]["msg"].startswith("%s line 2: malformed" % (tmp_path / "users"))


def test_create_only_with_create_true(tmp_path):
    specs = [dict(name="f", type="file", path=str(tmp_path / "new.pass")),
             dict(name="i", type="ini", path=str(tmp_path / "new.ini"), section="smtp", key="password"),
             dict(name="k", type="keychain", item="x", backend="file", path=str(tmp_path / "kc")),
             dict(name="u", type="passwd_file", path=str(tmp_path / "users"), user="inv")]
    result = run(specs, secret=PASSWORD, rewrite=True)[0]
    assert result["changed"] is False and list(tmp_path.iterdir()) == []
    assert "not created (set create: true" in by_name(result)["f"]["msg"]
    for s in specs:
        s["create"] = True
    result = run(specs, secret=PASSWORD, rewrite=True)[0]
    assert "a new user needs passwd_fields" in by_name(result)["u"]["msg"] and not (tmp_path / "users").exists()
    assert [s["changed"] for s in result["stores"]] == [True, True, True, False]
    assert (tmp_path / "new.pass").read_text() == PASSWORD
    assert (tmp_path / "new.ini").read_text() == "[smtp]\npassword = %s\n" % PASSWORD
    assert stat.S_IMODE(os.stat(tmp_path / "new.ini").st_mode) == 0o600
    specs[3]["passwd_fields"] = "5000:5000::/var/mail/inv::"
    result = run(specs, secret=PASSWORD, rewrite=True)[0]
    assert [s["changed"] for s in result["stores"]] == [False, False, False, True] and result["in_parity"] is True
    field = (tmp_path / "users").read_text().split(":")
    assert field[0] == "inv" and field[1].startswith("{SHA512-CRYPT}$6$") and field[2:] == ["5000", "5000", "", "/var/mail/inv", "", "\n"]


def test_readonly_store_is_compared_not_written(site):
    tmp, stores = site
    stores[1]["readonly"] = True
    before = (tmp / "gateway.ini").read_bytes()
    result = run(stores, secret=PASSWORD, rewrite=True)[0]
    smtp = by_name(result)["gateway-smtp"]
    assert smtp["writable"] is False and smtp["changed"] is False and "readonly" in smtp["msg"]
    assert (tmp / "gateway.ini").read_bytes() == before and result["in_parity"] is False


# --- probes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, security", [("probe_smtp", "starttls"), ("probe_smtp", "tls"), ("probe_smtp", "none"),
                                            ("probe_imap", "tls"), ("probe_imap", "starttls"), ("probe_imap", "none")])
def test_probe_that_cannot_connect_is_an_error_with_host_port_reason(kind, security):
    port = closed_port()
    result = run_result([dict(name="live", type=kind, host="127.0.0.1", port=port, username="inv", security=security)],
                        secret=PASSWORD)
    live = by_name(result)["live"]
    assert live["status"] == "error" and live["writable"] is False
    assert live["msg"] == "%s 127.0.0.1:%d: cannot connect: Connection refused" % (kind[6:].upper(), port)
    assert result["drifted"] == [] and result["in_parity"] is False


def test_probes_run_after_rewrites_and_in_audits(site):
    tmp, stores = site
    port = closed_port()
    stores.append(dict(name="live", type="probe_smtp", host="127.0.0.1", port=port, username="inv"))
    result = run(stores, secret=PASSWORD, rewrite=True)[0]
    assert by_name(result)["gateway-smtp"]["changed"] is True, "a probe error does not block rewrites"
    assert by_name(result)["live"]["status"] == "error" and result["in_parity"] is False
    result = run(stores)[0]
    assert by_name(result)["live"]["status"] == "error"
    assert all("live" not in g for g in result["groups"])


def test_probe_defaults():
    smtp = p.build_stores([spec(name="s", type="probe_smtp", host="h", username="u")])[0]
    imap = p.build_stores([spec(name="i", type="probe_imap", host="h", username="u")])[0]
    assert (smtp.security, smtp.port, imap.security, imap.port) == ("starttls", 587, "tls", 993)


# --- input validation ------------------------------------------------------------------------

@pytest.mark.parametrize("stores, message", [
    ([], "stores is empty"),
    ([dict(name="a", type="file", path="/x"), dict(name="a", type="file", path="/y")], "store name a is used twice"),
    ([dict(name="a", type="file")], r"store a \(file\): missing path"),
    ([dict(name="a", type="file", path="/x", section="s")], r"store a \(file\): option section does not apply to this type"),
    ([dict(name="a", type="ini", path="/x", key="k", host="h")], "option host does not apply"),
    ([dict(name="a", type="probe_smtp", host="h")], "missing username"),
    ([dict(name="a", type="ini", path="/x", key="a=b")], "key must be one word"),
    ([dict(name="a", type="passwd_file", path="/x", user="a:b")], "user must not contain"),
])
def test_bad_input(stores, message):
    with pytest.raises(p.ParityInputError, match=message):
        p.build_stores([spec(**s) for s in stores])


@pytest.mark.parametrize("secret", ["", "two\nlines", "cr\rhere"])
def test_bad_secret(secret):
    with pytest.raises(p.ParityInputError):
        p.check_secret(secret)


@needs_systemd_creds
def test_keychain_store_with_systemd_creds(tmp_path):
    context = dict(systemd_creds_bin=kc.find_systemd_creds(), run=run_subprocess)
    store = dict(name="kc", type="keychain", item="imip-gateway.smtp", backend="systemd_creds",
                 path=str(tmp_path / "credstore.encrypted"), create=True)
    result = run([store], secret=OTHER, rewrite=True, context=context)[0]
    assert by_name(result)["kc"]["status"] == "missing" and result["changed"] is True and result["in_parity"] is True
    cred = tmp_path / "credstore.encrypted" / "imip-gateway.smtp.cred"
    encrypted = cred.read_bytes()
    result = run([store], secret=OTHER, rewrite=True, context=context)[0]
    assert result["changed"] is False and cred.read_bytes() == encrypted
    result = run([store], secret=PASSWORD, rewrite=True, context=context)[0]
    assert by_name(result)["kc"]["status"] == "drift" and result["changed"] is True
    assert kc.Keychain("systemd_creds", str(tmp_path / "credstore.encrypted"), run=run_subprocess).read("imip-gateway.smtp") == PASSWORD
