# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Password parity: every stored copy of one password agrees (private to imip.server).

engine (the run: input, read, compare, the result), audit (grouping without the secret),
rewrite (staged writes, then read back), store (the Store base class, statuses, errors),
shared_file (a file several stores live in), keychain_store, file_stores, probe_stores (the
store types), store_types (all of them and the `stores` option), probes (live SMTP and IMAP
logins), module (the `main` of password_parity and password_parity_info).
Not a public API: the modules of imip.server are.
"""
