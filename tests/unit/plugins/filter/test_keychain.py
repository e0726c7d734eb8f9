# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""imip.server.unit_credentials: the keychain items found on a host as the gateway unit's
LoadCredentialEncrypted= / LoadCredential= lines (roles/imip_gateway/tasks/configure.yml).

The namespace() loop that did this before is the reference here.
"""

from __future__ import annotations

import types

import pytest

# The loop roles/imip_gateway/tasks/configure.yml had before the filter replaced it.
OLD_LOOP = (
    "{% set ns = namespace(out=[]) %}{% for name in names %}{% for backend in ['systemd_creds', 'file'] %}{%"
    " set store = stores[backend] %}{% set path = store.dir ~ '/' ~ name ~ store.suffix %}{%"
    " if path in found.files | map(attribute='path') and name not in ns.out | map(attribute='name') %}{%"
    " set ns.out = ns.out + [{'name': name, 'line': store.directive ~ '=' ~ name ~ ':' ~ path}] %}{% endif %}{% endfor %}{% endfor %}{{ ns.out }}")
NEW = "{{ names | imip.server.unit_credentials(stores, found.files | map(attribute='path') | list) }}"
STORES = {
    "systemd_creds": {"dir": "/etc/credstore.encrypted", "suffix": ".cred", "directive": "LoadCredentialEncrypted"},
    "file": {"dir": "/etc/imip/keychain", "suffix": "", "directive": "LoadCredential"},
}
NAMES = ["imip-gateway.smtp", "imip-gateway.imap", "imip-gateway.caldav"]


def files(*paths):
    return {"files": [{"path": path} for path in paths]}


@pytest.fixture(scope="module")
def keychain(ctl):
    from ansible_collections.imip.server.plugins.filter import keychain as plugin
    return types.SimpleNamespace(plugin=plugin, AnsibleFilterError=ctl.AnsibleFilterError)


@pytest.mark.parametrize("found", [
    files(),
    files("/etc/credstore.encrypted/imip-gateway.smtp.cred", "/etc/credstore.encrypted/imip-gateway.imap.cred",
          "/etc/credstore.encrypted/imip-gateway.caldav.cred"),
    files("/etc/imip/keychain/imip-gateway.smtp", "/etc/imip/keychain/imip-gateway.imap", "/etc/imip/keychain/imip-gateway.caldav"),
    # Both stores hold smtp: systemd-creds wins; caldav only in the file keychain; imap nowhere.
    files("/etc/imip/keychain/imip-gateway.smtp", "/etc/credstore.encrypted/imip-gateway.smtp.cred",
          "/etc/imip/keychain/imip-gateway.caldav", "/etc/imip/keychain/imip-gateway.smtp.meta"),
])
def test_the_lines_are_what_the_loop_made(templar, found):
    variables = {"names": NAMES, "stores": STORES, "found": found}
    assert templar(NEW, variables) == templar(OLD_LOOP, variables)


def test_the_first_store_that_holds_an_item_wins(keychain):
    found = ["/etc/imip/keychain/a", "/etc/credstore.encrypted/a.cred", "/etc/imip/keychain/b"]
    assert keychain.plugin.unit_credentials(["a", "b", "c"], STORES, found) == [
        {"name": "a", "line": "LoadCredentialEncrypted=a:/etc/credstore.encrypted/a.cred"},
        {"name": "b", "line": "LoadCredential=b:/etc/imip/keychain/b"},
    ]


@pytest.mark.parametrize("names,stores,found,message", [
    ("a", STORES, [], "expects a list of keychain item names, got str"),
    (["a"], {"file": {"dir": "/x"}}, [], r"stores must map each backend to \{dir, suffix, directive\}"),
    (["a"], STORES, "/etc/imip/keychain/a", "found must be the list of paths"),
])
def test_misuse_is_named(keychain, names, stores, found, message):
    with pytest.raises(keychain.AnsibleFilterError, match=message):
        keychain.plugin.unit_credentials(names, stores, found)
