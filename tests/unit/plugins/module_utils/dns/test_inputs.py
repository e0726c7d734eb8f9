"""The checks of the dns role's input that stand apart from the plan: the TSIG key."""

import pytest

from ansible_collections.imip.server.plugins.module_utils.dns import inputs as r


@pytest.mark.parametrize("key, expected", [
    ({"name": "k", "algorithm": "hmac-sha256", "secret": "no*base64*here=="}, "imip_dns_tsig_key.secret does not parse"),
    ({"name": "k", "algorithm": "hmac-sha256", "secret": "c2hvcnQ="}, "imip_dns_tsig_key.secret is too short"),
    # 32 zero bytes are 'A' * 43 + '='; a 'B' in the last place decodes the same in Python, but
    # its spare bits are not zero and named-checkconf says "bad base64 encoding".
    ({"name": "k", "algorithm": "hmac-sha256", "secret": "A" * 42 + "B="},
     "imip_dns_tsig_key.secret is not canonical base64"),
    ({"name": "k", "algorithm": "rot13", "secret": "QWpgkWO4tGIf9g8JqEJuht3vlw94dde6v/QoxRHSaJU="}, "algorithm 'rot13'"),
    ({"name": "", "secret": "QWpgkWO4tGIf9g8JqEJuht3vlw94dde6v/QoxRHSaJU="}, "imip_dns_tsig_key.name is missing"),
])
def test_tsig_key_errors_never_quote_the_secret(key, expected):
    errors = r.tsig_errors(key)
    assert any(expected in e for e in errors), errors
    assert not any(key["secret"] in e for e in errors)


def test_good_tsig_key():
    assert r.tsig_errors({"name": "imip-update", "algorithm": "hmac-sha256",
                          "secret": "QWpgkWO4tGIf9g8JqEJuht3vlw94dde6v/QoxRHSaJU="}) == []


def test_tsig_key_required_by_a_provider():
    assert r.tsig_errors({}, required_by="the nsupdate provider signs its updates with it") == [
        "imip_dns_tsig_key is required (the nsupdate provider signs its updates with it): give name, algorithm "
        "and secret; make one with `tsig-keygen -a hmac-sha256 NAME` and keep the secret in Ansible Vault"]
    assert r.tsig_errors({"name": "k"}, required_by="imip_dns_bind_dynamic opens the zones to it") == [
        "imip_dns_tsig_key.secret is missing (imip_dns_bind_dynamic opens the zones to it)"]
    assert r.tsig_errors({}) == []
