# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The passwd-file format shared by password_parity and dovecot_passwd_file."""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils import _dovecot_passwd as dp
from ansible_collections.imip.server.plugins.module_utils import _dovecot_passwd_format as fmt
from ansible_collections.imip.server.plugins.module_utils.parity import file_stores


def test_changes_only_the_password_field():
    text = "# c\nu1:{PLAIN}a:1:1::/h::x=y:z\r\nu2:{PLAIN}b\n"
    doc = fmt.PasswdFile(text)
    assert doc.password_field("u1") == ("{PLAIN}a", 2)
    assert doc.password_field("nobody") == (None, None)
    assert doc.set("u1", "{PLAIN}new") == "# c\nu1:{PLAIN}new:1:1::/h::x=y:z\r\nu2:{PLAIN}b\n"
    assert doc.set("u2", "{PLAIN}n") == "# c\nu1:{PLAIN}a:1:1::/h::x=y:z\r\nu2:{PLAIN}n\n"
    assert doc.set("u3", "{PLAIN}n", "1:1::/h::") == text + "u3:{PLAIN}n:1:1::/h::\n"
    assert fmt.PasswdFile("u1:x").set("u3", "{PLAIN}n", "") == "u1:x\nu3:{PLAIN}n\n"


@pytest.mark.parametrize("bad", ["no-colon-here", ":{PLAIN}x", " u:{PLAIN}x"])
def test_malformed_line_is_named_without_its_content(bad):
    with pytest.raises(fmt.PasswdFormatError) as err:
        fmt.PasswdFile("# c\nu:{PLAIN}x\n%s\n" % bad, "users")
    assert str(err.value).startswith("users line 3: malformed") and bad.strip() not in str(err.value)


def test_duplicate_user_is_an_error():
    with pytest.raises(fmt.PasswdFormatError, match=r"users lines 1, 3: user u appears more than once"):
        fmt.PasswdFile("u:a\nv:b\nu:c\n", "users").password_field("u")


def test_a_form_feed_in_a_comment_keeps_the_file_readable():
    doc = fmt.PasswdFile("# page\x0cbreak\nu:{PLAIN}a\x85b:1\n", "users")
    assert doc.password_field("u") == ("{PLAIN}a\x85b", 2)


@pytest.mark.parametrize("user, rule", [
    ("", "is empty"),
    ("#invites", "must not start with '#'"),
    ("a:b", "must not contain ':'"),
    ("a b", "white space"),
    ("a\x0cb", "white space"),
    ("a\u2028b", "white space"),
    ("a\x7fb", "control characters"),
])
def test_users_it_could_not_read_back_are_refused(user, rule):
    assert rule in fmt.user_problem(user)


def test_one_parser_for_the_collection():
    """password_parity's passwd_file stores and dovecot_passwd_file read files alike."""
    assert dp.PasswdFile is fmt.PasswdFile
    assert file_stores.passwd_format is fmt
