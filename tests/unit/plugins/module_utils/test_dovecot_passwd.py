# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The passwd-file planner, directly: what it keeps, names and writes."""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh
from ansible_collections.imip.server.plugins.module_utils import _dovecot_passwd as dp

from ..common import DOVEADM, PASSWORD


def test_check_users_fills_and_canonicalises_schemes():
    users = dp.check_users([dict(address="a@x.test", password="p1"), dict(address="b@x.test", password="p2", scheme="blf")],
                           "sha256-crypt")
    assert users == [("a@x.test", "p1", "SHA256-CRYPT"), ("b@x.test", "p2", "BLF-CRYPT")]


@pytest.mark.parametrize("scheme", ["SHA512-CRYPT", "ARGON2ID", "SSHA256", "CRYPT"])
def test_a_hash_that_verifies_is_kept_whatever_its_scheme(scheme):
    text = "u@x.test:%s\n" % DOVEADM[scheme]
    plan = dp.plan("f", text, dp.check_users([dict(address="u@x.test", password=PASSWORD)]))
    assert not plan.content_changed and plan.text == text


def test_check_mode_plan_makes_no_hash():
    plan = dp.plan("f", "old@x.test:{PLAIN}x\n", [("u@x.test", "pw", "SHA512-CRYPT")], hash_new=False)
    assert plan.text is None and plan.content_changed
    assert (plan.added, plan.removed, plan.rehashed) == (["u@x.test"], ["old@x.test"], [])


def test_plan_writes_in_the_order_given():
    users = [("b@x.test", "pb", "PLAIN"), ("a@x.test", "pa", "SHA512-CRYPT")]
    plan = dp.plan("f", "a@x.test:{PLAIN}pa\nb@x.test:{PLAIN}pb\n", users)
    assert plan.text == "b@x.test:{PLAIN}pb\na@x.test:{PLAIN}pa\n"
    assert plan.content_changed and (plan.added, plan.removed, plan.rehashed) == ([], [], [])
    assert dh.verify("pa", plan.text.splitlines()[1].split(":", 1)[1])


def test_scheme_limits_are_input_errors_naming_the_user():
    with pytest.raises(dp.PasswdError, match=r"users\[0\] \(u@x.test\): BLF-CRYPT \(bcrypt\) uses only the first 72 bytes"):
        dp.check_users([dict(address="u@x.test", password="x" * 73, scheme="BLF-CRYPT")])
    with pytest.raises(dp.PasswdError, match=r"users\[0\] \(#u@x.test\): the address must not start with '#'"):
        dp.check_users([dict(address="#u@x.test", password="pw")])


def test_a_stored_bcrypt_hash_and_a_long_password_is_rehashed_with_a_reason():
    text = "u@x.test:%s\n" % dh.make("y" * 72, "BLF-CRYPT")
    plan = dp.plan("f", text, dp.check_users([dict(address="u@x.test", password="y" * 73)]))
    assert plan.rehashed == ["u@x.test"] and plan.text.startswith("u@x.test:{SHA512-CRYPT}")
    assert "cannot hold this password" in plan.warnings[0]
