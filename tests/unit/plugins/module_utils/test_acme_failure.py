# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The messages a user gets when an ACME request fails.

The results are shaped as community.crypto's ACME modules and community.general.nsupdate
return them (recorded from runs against pebble in molecule/tls; the rate limit, which pebble
cannot produce, as Let's Encrypt documents its 429 problem document).
"""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils import _acme_failure as f

CONTEXT = dict(host="cal", directory="https://ca.example/dir", challenge="http-01",
               names=["cal.example.test", "mail.example.test"], dns_server="198.51.100.131 port 53",
               tsig_key="imip-acme")
TOKEN = "Iti1mCyKI2-Bd3jYjrPkFUlw0Z68oYaukxKlk4LqJDM"
CHALLENGE_DATA = [{"identifier": "cal.example.test", "identifier_type": "dns", "challenges": {
    "http-01": {"resource": ".well-known/acme-challenge/" + TOKEN, "resource_value": "x"},
    "dns-01": {"resource": "_acme-challenge", "record": "_acme-challenge.cal.example.test", "resource_value": "y"}}}]


def test_a_failed_http_challenge_names_the_url():
    detail = ('Get "http://cal.example.test:80/.well-known/acme-challenge/%s": context deadline exceeded '
              '(Client.Timeout exceeded while awaiting headers)' % TOKEN)
    result = {"failed": True,
              "msg": 'Failed to validate challenge for dns:cal.example.test: Status is not "valid". Challenge http-01: '
                     'Error urn:ietf:params:acme:error:connection: "%s".' % detail,
              "other": {"authorization": {"identifier": {"type": "dns", "value": "cal.example.test"}, "challenges": [
                  {"type": "http-01", "status": "invalid",
                   "error": {"type": "urn:ietf:params:acme:error:connection", "detail": detail, "status": 400}}]}}}
    msg = f.message(result, task="Let the CA validate the challenges",
                    action="community.crypto.acme_certificate_order_validate",
                    challenge_data=CHALLENGE_DATA, **CONTEXT)
    assert msg.startswith("HTTP-01 for cal.example.test: the ACME CA https://ca.example/dir could not validate "
                          "http://cal.example.test/.well-known/acme-challenge/%s: Get " % TOKEN)
    assert "context deadline exceeded" in msg
    assert "The CA must reach port 80 of cal.example.test's public address, which must lead to cal" in msg


def test_a_failed_dns_challenge_names_the_record():
    result = {"failed": True,
              "msg": 'Failed to validate challenge for dns:cal.example.test: Status is not "valid". Challenge dns-01: '
                     'Error urn:ietf:params:acme:error:unauthorized: "Error retrieving TXT records for DNS challenge".'}
    context = dict(CONTEXT)
    context.update(challenge="dns-01", challenge_data=CHALLENGE_DATA)
    msg = f.message(result, action="community.crypto.acme_certificate_order_validate", **context)
    assert msg.startswith("DNS-01 for cal.example.test: the ACME CA https://ca.example/dir could not validate the TXT "
                          "record _acme-challenge.cal.example.test: Error retrieving TXT records for DNS challenge.")
    assert "198.51.100.131 port 53" in msg


def test_a_rate_limit_says_so_and_that_nothing_changed():
    problem = {"type": "urn:ietf:params:acme:error:rateLimited", "status": 429,
               "detail": "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s"}
    result = {"failed": True, "msg": 'Giving up after 20 retries for https://ca.example/new-order with error: '
                                     'Error urn:ietf:params:acme:error:rateLimited: "%s".' % problem["detail"],
              "other": {"http_status": 429, "http_url": "https://ca.example/new-order", "problem": problem}}
    msg = f.message(result, action="community.crypto.acme_certificate_order_create", **CONTEXT)
    assert msg.startswith("The ACME CA https://ca.example/dir refused the request from cal: rate limit "
                          "(too many certificates (5) already issued")
    assert "Nothing was changed; the current certificate stays." in msg


def test_a_rate_limit_found_in_the_message_alone():
    result = {"msg": 'Error "Rate limited" (urn:ietf:params:acme:error:rateLimited): "retry after 2026-11-30 10:00 UTC".'}
    assert "rate limit (retry after 2026-11-30 10:00 UTC)" in f.message(result, **CONTEXT)


def test_an_unreachable_ca_says_from_where():
    result = {"failed": True, "status": -1, "url": "https://ca.example/dir",
              "msg": "Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] Connection refused>"}
    msg = f.message(result, task="Reach the ACME CA's directory", action="ansible.builtin.uri", **CONTEXT)
    assert msg == ("The ACME CA at https://ca.example/dir cannot be reached from cal: Status code was -1 and not [200]: "
                   "Request failed: <urlopen error [Errno 111] Connection refused>. Check imip_tls_acme_directory, and "
                   "the route and DNS from cal to it.")


def test_an_untrusted_ca_certificate_points_to_trusted_cas():
    result = {"status": -1, "msg": "Status code was -1 and not [200]: Request failed: <urlopen error [SSL: "
                                   "CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer "
                                   "certificate (_ssl.c:1006)>"}
    assert "cal does not trust the CA's HTTPS certificate: a private CA's root goes in imip_tls_trusted_cas" in \
        f.message(result, action="ansible.builtin.uri", **CONTEXT)


def test_a_directory_url_that_is_no_directory():
    result = {"status": 404, "msg": "Status code was 404 and not [200]: HTTP Error 404: Not Found"}
    assert f.message(result, action="ansible.builtin.uri", **CONTEXT) == (
        "The ACME directory https://ca.example/dir answers HTTP 404 to cal, so it is no ACME directory: check "
        "imip_tls_acme_directory.")


def test_a_refused_tsig_update_names_the_key_and_the_record():
    result = {"failed": True, "msg": "One or more items failed", "results": [
        {"failed": True, "item": {"key": "_acme-challenge.cal.example.test", "value": ["abc"]},
         "msg": "TSIG update error (PeerBadKey): The peer didn't know the key we used"}]}
    context = dict(CONTEXT)
    context["tsig_key"] = "wrong-key"
    msg = f.message(result, task="Publish the DNS-01 TXT records", action="community.general.nsupdate", **context)
    assert msg == ("DNS-01 on cal: the name server 198.51.100.131 port 53 did not take the update of "
                   "_acme-challenge.cal.example.test TXT signed with TSIG key 'wrong-key' (TSIG update error "
                   "(PeerBadKey): The peer didn't know the key we used); the server does not know TSIG key "
                   "'wrong-key' or its secret differs: check imip_tls_acme_dns_tsig_key (default: the dns role's "
                   "imip_dns_tsig_key).")


def test_a_refused_name_points_to_the_dns_roles_zones():
    result = {"results": [{"failed": True, "item": {"key": "_acme-challenge.www.example.test"},
                           "msg": "Zone lookup failure: '198.51.100.131' will not respond to queries regarding "
                                  "'_acme-challenge.www.example.test.'."}]}
    assert "list the name in imip_dns_acme_challenge_names" in f.message(
        result, action="community.general.nsupdate", **CONTEXT)


def test_terms_and_eab():
    terms = {"other": {"problem": {"type": "urn:ietf:params:acme:error:userActionRequired", "detail": "agree"}}}
    eab = {"other": {"problem": {"type": "urn:ietf:params:acme:error:externalAccountRequired"}}}
    assert "imip_tls_acme_terms_agreed" in f.message(terms, **CONTEXT)
    assert "set imip_tls_acme_eab" in f.message(eab, **CONTEXT)


def test_our_own_failures_pass_through():
    result = {"msg": "HTTP-01 on cal: port 80 is in use (users:((\"nginx\",pid=1,fd=6)))"}
    assert f.message(result, action="ansible.builtin.fail", **CONTEXT) == result["msg"]


def test_anything_else_names_the_step():
    assert f.message({"msg": "boom"}, task="Fetch the certificate", **CONTEXT) == (
        "ACME request to https://ca.example/dir failed on cal at 'Fetch the certificate': boom")
