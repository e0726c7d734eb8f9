# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""imip.server.debian_packages: which names still go to apt. (Every Molecule converge runs the
plugin itself: molecule/default installs from bare hosts, the idempotence runs find everything.)"""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils._packages import DPKG_QUERY_FORMAT, installed_packages, missing_packages
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


# dpkg-query -W -f=DPKG_QUERY_FORMAT as a Debian 12 host answers it (a multi-arch library twice,
# a package removed with its configuration kept, one half-configured by an interrupted upgrade).
DPKG_QUERY = (
    "ii \tpostfix\t3.7.11-0+deb12u1\tamd64\n"
    "ii \tdovecot-core\t1:2.3.19.1+dfsg1-2.1+deb12u1\tamd64\n"
    "ii \tlibc6\t2.36-9+deb12u10\tamd64\n"
    "ii \tlibc6\t2.36-9+deb12u10\ti386\n"
    "rc \tpostgrey\t1.37-1.1\tall\n"
    "iF \tradicale\t3.1.8-1\tall\n"
    "un \topendmarc\t\t\n"
)


def test_the_installed_packages_are_read_in_package_facts_shape():
    packages = installed_packages(DPKG_QUERY)
    assert packages["postfix"] == [{"name": "postfix", "version": "3.7.11-0+deb12u1", "arch": "amd64", "source": "apt"}]
    assert [entry["arch"] for entry in packages["libc6"]] == ["amd64", "i386"]
    # The mail role reads Dovecot's version from it.
    assert packages["dovecot-core"][0]["version"] == "1:2.3.19.1+dfsg1-2.1+deb12u1"


def test_removed_and_unknown_packages_are_not_installed_half_configured_ones_are():
    packages = installed_packages(DPKG_QUERY)
    assert "postgrey" not in packages and "opendmarc" not in packages
    assert "radicale" in packages
    assert missing_packages(["postgrey", "postfix"], packages) == ["postgrey"]


def test_the_format_asks_dpkg_for_exactly_the_four_fields_read():
    assert DPKG_QUERY_FORMAT.count("\t") == 3 and DPKG_QUERY_FORMAT.endswith("\n")
