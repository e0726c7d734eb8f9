# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""When the acme provider asks the CA for a certificate: only when one is due, and it says why."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.imip.server.plugins.module_utils import _tls_renewal as r

NOW = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
DIRECTORY = "https://acme.example/dir"


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _cert(key, names, days_left):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
               .serial_number(0xABCDEF).not_valid_before(NOW - datetime.timedelta(days=10))
               .not_valid_after(NOW + datetime.timedelta(days=days_left))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False))
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def key():
    return _key()


def _decide(current, key, names=("cal.example.test",), days=30, **kw):
    kw.setdefault("public_key", _pem_public(key))
    kw.setdefault("issuer", DIRECTORY)
    kw.setdefault("wanted_issuer", DIRECTORY)
    return r.renewal(current, list(names), days, now=NOW, **kw)


def test_a_valid_certificate_is_not_due(key):
    decision = _decide(_cert(key, ["cal.example.test"], 60), key)
    assert decision == {"due": False, "reasons": [], "serial": "abcdef", "not_after": "2026-12-31T12:00:00Z",
                        "names": ["cal.example.test"]}


def test_no_certificate_is_due(key):
    assert _decide("", key)["reasons"] == ["there is no certificate yet"]


def test_an_unreadable_certificate_is_due(key):
    decision = _decide("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", key)
    assert decision["due"] and decision["reasons"][0].startswith("the installed certificate cannot be read")


def test_fewer_days_than_renew_days_is_due(key):
    decision = _decide(_cert(key, ["cal.example.test"], 20), key)
    assert decision["reasons"] == ["it expires on 2026-11-21T12:00:00Z, in fewer than 30 days"]


def test_an_expired_certificate_says_so(key):
    assert _decide(_cert(key, ["cal.example.test"], -1), key)["reasons"] == ["it expired on 2026-10-31T12:00:00Z"]


def test_changed_names_are_due_and_named(key):
    decision = _decide(_cert(key, ["cal.example.test", "old.example.test"], 60), key,
                       names=["cal.example.test", "Mail.example.test"])
    assert decision["reasons"] == ["its names change (+mail.example.test, -old.example.test)"]


def test_the_order_and_case_of_names_do_not_matter(key):
    current = _cert(key, ["cal.example.test", "mail.example.test"], 60)
    assert not _decide(current, key, names=["MAIL.example.test", "cal.example.test"])["due"]


def test_a_certificate_for_another_key_is_due(key):
    assert _decide(_cert(_key(), ["cal.example.test"], 60), key)["reasons"] == ["its key is not the host's key"]


def test_a_new_host_key_is_due(key):
    assert _decide(_cert(key, ["cal.example.test"], 60), key, public_key="", key_changed=True)["reasons"] == [
        "the host's key is new"]


def test_another_ca_is_due(key):
    decision = _decide(_cert(key, ["cal.example.test"], 60), key, issuer="")
    assert decision["reasons"] == ["it was not issued by https://acme.example/dir"]
    decision = _decide(_cert(key, ["cal.example.test"], 60), key, issuer="https://staging.example/dir")
    assert decision["reasons"] == ["it was not issued by https://acme.example/dir (but by https://staging.example/dir)"]
