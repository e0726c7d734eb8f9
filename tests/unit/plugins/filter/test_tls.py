# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""imip.server.tls_provider: another host's certificate provider, as the tls role's default gives it.

The tls role decides with it whether the site CA is needed (roles/tls/vars/main.yml,
__imip_tls_uses_site_ca); the namespace() loop that did this before is the reference here.
"""

from __future__ import annotations

import types

import pytest

# The loop roles/tls/vars/main.yml had before the filter replaced it.
OLD_USES_SITE_CA = (
    "{% set ns = namespace(any=imip_tls_provider == 'site_ca') %}{% for h in ansible_play_hosts_all"
    " if h != inventory_hostname %}{% set pem = hostvars[h].imip_tls_certificate_pem | default('') %}{% if"
    " hostvars[h].imip_tls_provider | default('supplied' if pem | length > 0 else 'site_ca') == 'site_ca'"
    " %}{% set ns.any = true %}{% endif %}{% endfor %}{{ ns.any }}")
NEW_USES_SITE_CA = (
    "{{ imip_tls_provider == 'site_ca'"
    " or 'site_ca' in (ansible_play_hosts_all | reject('equalto', inventory_hostname) | map('imip.server.tls_provider', hostvars)) }}")
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
HOSTVARS = {
    "acme": {"imip_tls_provider": "acme"},
    "given": {"imip_tls_certificate_pem": PEM},
    "given_ca": {"imip_tls_certificate_pem": PEM, "imip_tls_provider": "site_ca"},
    "plain": {},
    "empty_pem": {"imip_tls_certificate_pem": ""},
}


@pytest.fixture(scope="module")
def tls(ctl):
    from ansible_collections.imip.server.plugins.filter import tls as plugin
    return types.SimpleNamespace(plugin=plugin, AnsibleFilterError=ctl.AnsibleFilterError)


@pytest.mark.parametrize("host,provider", [("acme", "acme"), ("given", "supplied"), ("given_ca", "site_ca"),
                                           ("plain", "site_ca"), ("empty_pem", "site_ca")])
def test_a_hosts_provider(tls, host, provider):
    assert tls.plugin.tls_provider(host, HOSTVARS) == provider


@pytest.mark.parametrize("host,message", [("nope", "nope is not a host of the inventory"), ("", "give an inventory host name"),
                                          (None, "give an inventory host name")])
def test_unknown_hosts_are_named(tls, host, message):
    with pytest.raises(tls.AnsibleFilterError, match=message):
        tls.plugin.tls_provider(host, HOSTVARS)


@pytest.mark.parametrize("me,own,play", [
    ("acme", "acme", ["acme"]),
    ("acme", "acme", ["acme", "given"]),
    ("acme", "acme", ["acme", "plain"]),
    ("acme", "acme", ["acme", "given_ca"]),
    ("given", "supplied", ["given", "acme", "empty_pem"]),
    ("plain", "site_ca", ["plain", "acme"]),
    ("given", "supplied", ["acme", "given", "given_ca"]),
])
def test_the_site_ca_is_needed_as_the_loop_said(templar, me, own, play):
    variables = {"inventory_hostname": me, "imip_tls_provider": own, "ansible_play_hosts_all": play, "hostvars": HOSTVARS}
    new = templar(NEW_USES_SITE_CA, variables)
    assert isinstance(new, bool)
    assert new == (str(templar(OLD_USES_SITE_CA, variables)) == "True")
