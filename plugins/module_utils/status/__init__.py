# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Status: the checks of playbooks/check.yml, one point of view per file (private to imip.server).

checks (a check as data: id, heading, status, message, should, fix; retries), probes (TCP, TLS,
SMTP and DNS probes with timeouts), site (what a site host sees: listeners, certificates,
outgoing IPv6, the invitation account), gateway (the iMIP gateway's unit and own status),
backup (the backup's last run, repository and restore test), outside (DNS, ports and the MX seen
from outside the site), report (the views merged, ordered and rendered as text).
Not a public API: the modules and filters of imip.server are.
"""
