# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which package names still need apt (imip.server.debian_packages), and the installed packages
as dpkg lists them."""

from __future__ import annotations


def missing_packages(names, installed):
    """The names to hand to apt: those not in `installed` (package_facts' `packages`), and every
    name that is not a plain package name (a version pin, a wildcard, an architecture, a file),
    which only apt can judge."""
    plain = set(installed or {})
    return [name for name in names
            if name not in plain or any(char in name for char in "=*?:/<>")]


# One line per package known to dpkg: status (want, state, error), name, version, architecture.
DPKG_QUERY_FORMAT = "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n"


def installed_packages(dpkg_query_output):
    """The installed packages from `dpkg-query -W -f=DPKG_QUERY_FORMAT`, in the shape of
    ansible.builtin.package_facts' `packages` (name -> list of {name, version, arch, source}).
    Installed means dpkg has a version of it on disk: every state but not-installed (n) and
    config-files (c), as python-apt (package_facts' reader) counts them."""
    packages = {}
    for line in dpkg_query_output.splitlines():
        fields = line.split("\t")
        if len(fields) != 4 or len(fields[0]) < 2 or fields[0][1] in "nc":
            continue
        _status, name, version, arch = fields
        packages.setdefault(name, []).append({"name": name, "version": version, "arch": arch, "source": "apt"})
    return packages
