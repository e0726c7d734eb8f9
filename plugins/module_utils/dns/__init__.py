# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""DNS: records, the dns role's planner, zone files, resolver checks (private to imip.server).

records (records as data), inputs (the role's input checked), planner (plan: every zone per
view), zone_text (zone files and serials), check (what a resolver answers; needs dnspython).
Not a public API: the modules and filters of imip.server are.
"""
