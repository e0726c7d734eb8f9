# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""imip.server.postgrey_whitelist: postgrey's recipient whitelist from the invitation address.

The expected lists were computed once from the variables roles/mail/vars/main.yml held before the
filter replaced them (__imip_mail_whitelist_recipients: ([imip_invitation_address | lower] +
imip_mail_greylisting_whitelist_recipients) | unique), through Ansible's own templating.
"""

from __future__ import annotations

import types

import pytest

from ..module_utils.test_postgrey import OLD_WHITELISTS


@pytest.fixture(scope="module")
def postgrey(ctl):
    from ansible_collections.imip.server.plugins.filter import postgrey as plugin
    return types.SimpleNamespace(plugin=plugin, AnsibleFilterError=ctl.AnsibleFilterError)


def test_the_filter_is_registered(postgrey):
    assert postgrey.plugin.FilterModule().filters() == {"postgrey_whitelist": postgrey.plugin.postgrey_whitelist}


@pytest.mark.parametrize("address,recipients,expected", OLD_WHITELISTS)
def test_the_whitelist_is_what_the_old_variables_made(templar, address, recipients, expected):
    variables = {"imip_invitation_address": address, "imip_mail_greylisting_whitelist_recipients": recipients}
    assert templar("{{ imip_invitation_address | imip.server.postgrey_whitelist(imip_mail_greylisting_whitelist_recipients) }}",
                   variables) == expected


def test_recipients_are_optional(postgrey):
    assert postgrey.plugin.postgrey_whitelist("Invites@Example.ORG") == ["invites@example.org"]


@pytest.mark.parametrize("address,recipients,message", [
    ("", [], "give the invitation address"),
    (None, [], "give the invitation address"),
    ("invites@example.org", "support@example.org", "must be a list, got str"),
    ("invites@example.org", {"a": "b"}, "must be a list, got dict"),
    ("invites@example.org", ["ok@example.org", "a b@example.org", 7], r"postgrey cannot parse \['a b@example.org', 7\]"),
])
def test_bad_input_is_named(postgrey, address, recipients, message):
    with pytest.raises(postgrey.AnsibleFilterError, match=message):
        postgrey.plugin.postgrey_whitelist(address, recipients)
