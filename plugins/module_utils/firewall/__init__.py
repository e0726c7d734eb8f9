# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Firewall: the role's planner and the nftables helpers of its modules (private to imip.server).

plan (the firewall role's input checked and turned into the ruleset template's data), nat (a
gateway's port forwards, interfaces and inside networks), values (ports and addresses shared by
both), nft (owned tables: decide, validate, apply, confirm, roll back; nft_ruleset and
nft_ruleset_confirm). Not a public API: the modules and filters of imip.server are.
"""
