# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""postgrey's whitelists (module_utils/_postgrey.py).

The expected values were computed once from the regex variables that roles/mail/vars/main.yml
held before this module replaced them (__imip_mail_postgrey_client_re, __imip_mail_postgrey_recipient_re
and __imip_mail_whitelist_recipients, rendered by Ansible's templating with its `match` test and
`unique` filter): the module keeps what postgrey accepts and what the role writes.
"""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils import _postgrey as pg

# entry -> accepted by the old __imip_mail_postgrey_client_re
OLD_CLIENTS = {
    "mail.partner.example": True, "192.0.2.0/24": True, "192.0.2.1": True, "192.0.2": True, "10.1": True,
    "192.0.2.300": False, "192.0.2.0/33": False, "2001:db8::/32": True, "2001:db8::1": True, "::1": True,
    "fe80::/129": False, "/^mx\\d+\\.example\\.org$/": True, "_spf.example.org": True, "host.": True,
    "-": False, "a b": False, "#x": False, "has#hash": False, "mail_1.example": True, "192": False, "": False,
    "x/y": False, "1.2.3.4.5": False, "256.1.1": False, "0.0.0.0/0": True,
}
# entry -> accepted by the old __imip_mail_postgrey_recipient_re
OLD_RECIPIENTS = {
    "support@example.test": True, "postmaster@": True, "example.org": True, "/^abuse@/": True,
    "user+tag@example.org": True, "a b@example.org": False, "a#b@example.org": False, "@example.org": False,
    "user@-bad.org": False, "user@": True, "exa_mple.org": False, "EXAMPLE.ORG": True, "x@y@z": False,
    "user@example.org.": False, "a/b@example.org": False, "": False, "192.0.2.1": True, "-example.org": False,
}
# (imip_invitation_address, imip_mail_greylisting_whitelist_recipients) -> the old __imip_mail_whitelist_recipients
OLD_WHITELISTS = [
    ("calendar-invites@example.test", [], ["calendar-invites@example.test"]),
    ("Calendar-Invites@Example.TEST", ["support@example.test", "CALENDAR-INVITES@example.test", "example.org"],
     ["calendar-invites@example.test", "support@example.test", "example.org"]),
    ("invites@mail.example.org", ["postmaster@", "/^abuse@/", "Support@Example.test", "support@example.test",
                                  "invites@mail.example.org"],
     ["invites@mail.example.org", "postmaster@", "/^abuse@/", "Support@Example.test"]),
    ("a.b_c-d@x.y.example", ["a.b_c-d@x.y.example", "other.example", "b@"],
     ["a.b_c-d@x.y.example", "other.example", "b@"]),
]


@pytest.mark.parametrize("entry,accepted", sorted(OLD_CLIENTS.items()))
def test_client_entries_as_before(entry, accepted):
    assert pg.is_client_entry(entry) is accepted


@pytest.mark.parametrize("entry,accepted", sorted(OLD_RECIPIENTS.items()))
def test_recipient_entries_as_before(entry, accepted):
    assert pg.is_recipient_entry(entry) is accepted


@pytest.mark.parametrize("entry", [None, 10, ["example.org"], "example.org\n"])
def test_anything_but_a_one_line_string_is_no_entry(entry):
    assert not pg.is_client_entry(entry)
    assert not pg.is_recipient_entry(entry)


@pytest.mark.parametrize("address,recipients,expected", OLD_WHITELISTS)
def test_the_recipient_whitelist_as_before(address, recipients, expected):
    assert pg.whitelist_recipients(address, recipients) == expected
