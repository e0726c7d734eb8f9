# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which package names still need apt (imip.server.debian_packages)."""

from __future__ import annotations


def missing_packages(names, installed):
    """The names to hand to apt: those not in `installed` (package_facts' `packages`), and every
    name that is not a plain package name (a version pin, a wildcard, an architecture, a file),
    which only apt can judge."""
    plain = set(installed or {})
    return [name for name in names
            if name not in plain or any(char in name for char in "=*?:/<>")]
