# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""imip.server.debian_packages: which names still go to apt. (Every Molecule converge runs the
plugin itself: molecule/default installs from bare hosts, the idempotence runs find everything.)"""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils._packages import missing_packages
from ansible_collections.imip.server.plugins.modules import debian_packages

INSTALLED = {"postfix": [{"version": "3.7.11-0+deb12u1"}], "dovecot-core": [{"version": "1:2.3.19.1"}]}


def test_installed_names_go_nowhere():
    assert missing_packages(["postfix", "dovecot-core"], INSTALLED) == []


def test_missing_names_go_to_apt_in_order():
    assert missing_packages(["postgrey", "postfix", "opendmarc"], INSTALLED) == ["postgrey", "opendmarc"]


@pytest.mark.parametrize("name", ["postfix=3.7.11-0+deb12u1", "postfix:amd64", "dovecot-*", "./local.deb",
                                  "postfix>=3"])
def test_what_only_apt_can_judge_always_goes_to_apt(name):
    assert missing_packages([name], INSTALLED) == [name]


def test_nothing_read_yet_means_everything_is_missing():
    assert missing_packages(["postfix"], None) == ["postfix"]


def test_the_module_file_refuses_to_run_on_a_host(run_module):
    run = run_module(debian_packages, {"name": ["postfix"]})
    assert run.result["failed"] and "action plugin" in run.result["msg"]
