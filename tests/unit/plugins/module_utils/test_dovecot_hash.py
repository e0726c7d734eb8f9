# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Dovecot schemes: hashes made by passlib and by Dovecot's own `doveadm pw` verify."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh

from ..common import DOVEADM, PASSWORD

REQUIRED = ["SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "ARGON2I", "ARGON2ID", "SSHA512", "SSHA256", "PLAIN", "CRYPT"]


def test_fixture_has_every_required_scheme():
    assert set(REQUIRED) <= set(DOVEADM), "regenerate with tests/unit/fixtures/make-doveadm-hashes.sh"
    assert set(REQUIRED) <= set(dh.supported_verify())


@pytest.mark.parametrize("scheme", sorted(DOVEADM))
def test_doveadm_hash_verifies(scheme):
    assert dh.verify(PASSWORD, DOVEADM[scheme]) is True


@pytest.mark.parametrize("scheme", sorted(s for s in DOVEADM if s != "DES-CRYPT"))
def test_doveadm_hash_rejects_other_password(scheme):
    assert dh.verify(PASSWORD + "x", DOVEADM[scheme]) is False
    assert dh.verify("Stale-Password-7", DOVEADM[scheme]) is False


def test_des_crypt_rejects_other_password():
    # DES crypt looks at the first 8 characters only: exactly why it is verify-only here.
    assert dh.verify("Xarity t", DOVEADM["DES-CRYPT"]) is False
    assert "DES-CRYPT" not in dh.supported_write() and "CRYPT" not in dh.supported_write()


def test_doveadm_crypt_is_bcrypt_and_ssha_salt_layout():
    # Dovecot 2.3's CRYPT writes bcrypt; SSHA512 is base64(sha512(password + salt) + salt).
    assert DOVEADM["CRYPT"].startswith("{CRYPT}$2y$")
    raw = base64.b64decode(DOVEADM["SSHA512"][len("{SSHA512}"):])
    digest, salt = raw[:64], raw[64:]
    assert hashlib.sha512(PASSWORD.encode("utf-8") + salt).digest() == digest


@pytest.mark.parametrize("scheme", dh.supported_write())
def test_passlib_made_hash_verifies(scheme):
    field = dh.make(PASSWORD, scheme)
    assert field.startswith("{%s}" % scheme)
    assert PASSWORD not in field or scheme == "PLAIN"
    assert dh.verify(PASSWORD, field) is True
    assert dh.verify("Stale-Password-7", field) is False
    # a random salt: the same password hashes differently, yet both verify
    if scheme != "PLAIN":
        assert dh.make(PASSWORD, scheme) != field


def test_written_costs_match_doveadm_defaults():
    assert dh.make(PASSWORD, "SHA512-CRYPT").startswith("{SHA512-CRYPT}$6$")
    assert "rounds=" not in dh.make(PASSWORD, "SHA512-CRYPT")  # 5000 is implicit, as doveadm writes it
    assert dh.make(PASSWORD, "BLF-CRYPT").startswith("{BLF-CRYPT}$2y$05$")
    assert "$m=65536,t=3,p=1$" in dh.make(PASSWORD, "ARGON2ID")
    assert "$m=32768,t=4,p=1$" in dh.make(PASSWORD, "ARGON2I")


def test_aliases_and_crypt_formats():
    assert dh.verify(PASSWORD, "{CLEARTEXT}" + PASSWORD)
    from passlib.hash import sha512_crypt, md5_crypt, des_crypt
    assert dh.verify(PASSWORD, "{CRYPT}" + sha512_crypt.hash(PASSWORD))
    assert dh.verify(PASSWORD, "{CRYPT}" + md5_crypt.hash(PASSWORD))
    assert dh.verify("abcdefgh", "{CRYPT}" + des_crypt.hash("abcdefgh"))
    # no prefix: Dovecot's default_pass_scheme, CRYPT
    assert dh.verify(PASSWORD, sha512_crypt.hash(PASSWORD))


def test_ssha_with_salt_outside_passlib_range():
    salt = b"s" * 24  # passlib accepts 4..16 bytes; other tools use longer salts
    field = "{SSHA256}" + base64.b64encode(hashlib.sha256(b"pw" + salt).digest() + salt).decode()
    assert dh.verify("pw", field) is True
    assert dh.verify("px", field) is False


@pytest.mark.parametrize("field, message", [
    ("{NOPE}abc", "the password field has an unknown {SCHEME} prefix; supported: ARGON2I"),
    ("{SHA512-CRYPT}$5$abc$def", "does not have the format of {SHA512-CRYPT}"),
    ("{ARGON2ID}$argon2i$v=19$m=32768,t=4,p=1$abc$def", "does not have the format of {ARGON2ID}"),
    ("{CRYPT}$y$j9T$abc$def", "yescrypt"),
    ("{SSHA512}not base64!", "not valid base64"),
    ("{SSHA512}" + base64.b64encode(b"short").decode(), "too short"),
])
def test_bad_hashes_are_clear_errors(field, message):
    with pytest.raises(dh.SchemeError, match=re.escape(message)):
        dh.verify(PASSWORD, field)


def test_cannot_write_unknown_or_verify_only_scheme():
    for scheme in ("NOPE", "CRYPT", "MD5-CRYPT"):
        with pytest.raises(dh.SchemeError, match="cannot write scheme"):
            dh.make(PASSWORD, scheme)


def test_without_passlib_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setattr(dh, "_passlib_hash", None)
    assert dh.have_passlib() is False
    with pytest.raises(dh.SchemeError) as err:
        dh.verify(PASSWORD, DOVEADM["SHA512-CRYPT"])
    assert "python3-passlib" in str(err.value) and "libpass" in str(err.value)
    # PLAIN needs no library
    assert dh.verify(PASSWORD, DOVEADM["PLAIN"])


def test_messages_never_quote_the_field():
    with pytest.raises(dh.SchemeError) as err:
        dh.verify(PASSWORD, "{SCRAM-SHA-256}secret-looking-data")
    assert "SCRAM" not in str(err.value) and "secret-looking-data" not in str(err.value)


def test_bcrypt_limit_is_checked_before_hashing():
    assert dh.secret_problem("BLF-CRYPT", "x" * 72) is None
    assert dh.secret_problem("blf", "\u00e9" * 36) is None  # 72 bytes
    assert "uses only the first 72 bytes" in dh.secret_problem("BLF-CRYPT", "x" * 73)
    assert "uses only the first 72 bytes" in dh.secret_problem("BLF-CRYPT", "\u00e9" * 37)
    assert dh.secret_problem("SHA512-CRYPT", "x" * 73) is None
    with pytest.raises(dh.SchemeLimitError, match="72 bytes"):
        dh.make("x" * 73, "BLF-CRYPT")  # a clear error, never bcrypt's ValueError


def test_passlib_size_limit_is_a_clear_error():
    assert "longer than 4096 bytes" in dh.secret_problem("SHA512-CRYPT", "x" * 4097)
    assert dh.secret_problem("PLAIN", "x" * 5000) is None


def test_verifying_a_long_password_against_bcrypt_says_why():
    """bcrypt >= 5 raises ValueError; older ones truncate. Either way: a clear, equal answer."""
    field = dh.make("y" * 72, "BLF-CRYPT")
    with pytest.raises(dh.SchemeLimitError, match=r"the \{BLF-CRYPT\} hash cannot hold this password: .*72 bytes"):
        dh.verify("y" * 73, field)
    with pytest.raises(dh.SchemeLimitError):
        dh.verify("y" * 73, "{CRYPT}" + field[len("{BLF-CRYPT}"):])


def test_the_one_list_of_writable_schemes():
    assert dh.supported_write() == ["ARGON2I", "ARGON2ID", "BLF-CRYPT", "PLAIN", "SHA256-CRYPT", "SHA512-CRYPT", "SSHA256", "SSHA512"]
    assert dh.write_problem("sha512-crypt") is None and dh.write_problem("BLF") is None
    assert dh.write_problem("CRYPT").startswith("unknown or read-only password scheme CRYPT; the schemes a hash can be written with: ARGON2I")
