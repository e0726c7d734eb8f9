# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    # The `stores` option shared by imip.server.password_parity_info and imip.server.password_parity.
    DOCUMENTATION = r"""
options:
  insecure_files:
    description:
      - What to do when a file holding a copy of the password (an ini file, a whole file, a
        passwd-file, a V(file) keychain item) is group- or world-writable or world-readable.
      - V(warn) reports the path and mode as a warning; V(fail) makes each store in that file
        an error (M(imip.server.password_parity) then writes nothing and fails).
      - The mode is never changed; an existing file keeps its owner, group and mode.
    type: str
    choices: [warn, fail]
    default: warn
  stores:
    description:
      - Every place that holds a copy of the password, each with a unique O(stores[].name).
      - Options that do not apply to a store's O(stores[].type) are an error, so a misplaced
        option is never silently ignored. Two stores that are the same copy (the same file and
        key, user or item) are an error; so are stores of different formats in one file.
      - The secret must fit every store before anything is read or written. No store holds a
        line break or NUL. An V(ini) value cannot start or end with white space or contain a
        line or paragraph separator of any kind (C(\v), C(\f), C(\x1c-\x1e), C(\x85),
        C(\u2028), C(\u2029)), because it would not be read back as written; a passwd-file
        hash is checked against the limits of its O(stores[].scheme) (BLF-CRYPT uses only the
        first 72 bytes, so a longer password is refused).
      - Stores in the same file share one copy of it while they are compared and rewritten, so
        a rotation of several keys or users of one file is written at once. Files are read as
        lines split at C(\n) only (C(\r\n) endings are kept). A path that is a symbolic
        link is read and written through the link, which is kept.
      - Probes run after every other store was read (and, for M(imip.server.password_parity),
        rewritten).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Unique name of the store, chosen by the caller (for example V(gateway-smtp)).
            Results and diffs refer to stores by this name.
        type: str
        required: true
      type:
        description:
          - V(keychain) is an item kept by M(imip.server.keychain_item).
          - V(ini) is one key of an ini file. Sections are case-sensitive, keys
            case-insensitive (as Python's configparser reads them); the value is everything
            after the first V(=) or V(:), without surrounding spaces; there are no inline
            comments. A rewrite changes only that value and keeps comments, order, spacing
            and every other key.
          - V(file) is a whole file holding only the password (a trailing line break is
            ignored when reading and kept when rewriting).
          - V(passwd_file) is the password field of O(stores[].user) in a Dovecot passwd-file
            (C(user:{SCHEME}hash:uid:gid:gecos:home:shell:extra)). The hash is verified with
            passlib, never compared as a string, and rewritten only when verification fails,
            with O(stores[].scheme); the rest of the line and the file is kept.
          - V(probe_smtp) logs in to a live SMTP server with AUTH PLAIN or LOGIN; it only
            verifies and is never written.
          - V(probe_imap) logs in to a live IMAP server (LOGIN, or AUTHENTICATE PLAIN for a
            non-ASCII password); it only verifies and is never written.
        type: str
        required: true
        choices: [keychain, ini, file, passwd_file, probe_smtp, probe_imap]
      item:
        description:
          - Keychain item name (V(keychain); required there).
        type: str
      backend:
        description:
          - Keychain backend (V(keychain)), as in M(imip.server.keychain_item).
          - Default V(auto) (V(systemd_creds) where C(systemd-creds) exists, else V(file)).
        type: str
        choices: [auto, systemd_creds, file]
      path:
        description:
          - For V(keychain), the keychain directory (defaults as in
            M(imip.server.keychain_item)).
          - For V(ini), V(file) and V(passwd_file), the file (required there).
        type: path
      section:
        description:
          - Section of the key (V(ini)). Leave it out for keys before the first section
            header.
          - Not empty, no V(]), no line separator, no white space at either end.
        type: str
      key:
        description:
          - Key whose value is the password (V(ini); required there).
          - No V(=) or V(:), no line separator, no white space at either end, and not starting
            with V(#), V(;) or V([) (the line would be a comment or a section header).
        type: str
      user:
        description:
          - User whose password field is compared (V(passwd_file); required there).
          - No V(:), white space or control characters, and not starting with V(#) (the line
            would be a comment).
        type: str
      scheme:
        description:
          - Dovecot scheme used when a V(passwd_file) hash is (re)written. An existing hash
            of any supported scheme that verifies is left alone.
          - Written, one of ARGON2I, ARGON2ID, BLF-CRYPT, PLAIN, SHA256-CRYPT, SHA512-CRYPT,
            SSHA256, SSHA512.
          - Verified, one of ARGON2I, ARGON2ID, BLF-CRYPT, CRYPT, DES-CRYPT, MD5-CRYPT, PLAIN,
            SHA256-CRYPT, SHA512-CRYPT, SSHA256, SSHA512 (CRYPT is whatever crypt(3) format
            passlib knows).
          - SHA512-CRYPT and SHA256-CRYPT are written with 5000 rounds, BLF-CRYPT with cost 5
            and ARGON2I/ARGON2ID with libsodium's interactive limits, like C(doveadm pw),
            because every login pays the hash cost.
          - BLF-CRYPT uses only the first 72 bytes of a password, so a longer O(secret) is refused
            before anything is written. A stored bcrypt hash cannot hold such a password
            either, so it is reported as drifted.
          - Default V(SHA512-CRYPT).
        type: str
      passwd_fields:
        description:
          - For V(passwd_file) with O(stores[].create=true), the fields after the password
            of a new user line (for example V(5000:5000::/var/mail/invites::)). Without it a
            missing user is reported and never created. V("") writes C(user:{SCHEME}hash).
        type: str
      host:
        description:
          - Server to log in to (V(probe_smtp), V(probe_imap); required there).
        type: str
      port:
        description:
          - Port to connect to. Default for V(probe_smtp) 587 (465 with
            O(stores[].security=tls)); for V(probe_imap) 993 (143 without TLS).
        type: int
      security:
        description:
          - V(starttls), V(tls) (implicit TLS) or V(none). V(none) sends the password in
            clear text; use it only on loopback or in a lab.
          - Default V(starttls) for V(probe_smtp), V(tls) for V(probe_imap).
        type: str
        choices: [starttls, tls, none]
      username:
        description:
          - Login name for the probe (V(probe_smtp), V(probe_imap); required there).
        type: str
      validate_certs:
        description:
          - Verify the server certificate and host name. Default V(true).
        type: bool
      ca_path:
        description:
          - CA certificate file or directory used to verify the server (probes), for example a
            lab CA. Default is the system trust store.
        type: path
      timeout:
        description:
          - Seconds to wait for the server (probes). Default V(10).
        type: int
      create:
        description:
          - With M(imip.server.password_parity), create the store when it is missing (the
            file, the key, the section, the keychain item or, with
            O(stores[].passwd_fields), the passwd-file user). New files are created mode
            0600; existing files keep owner, group and mode.
          - Default V(false). Ignored by M(imip.server.password_parity_info).
        type: bool
      readonly:
        description:
          - Compare this store but never rewrite it (for a copy another tool or role manages).
          - While a readonly store does not hold the password, M(imip.server.password_parity)
            writes no store at all and fails (run the tool that writes this copy first). In check
            mode it names the copies it would rewrite once this one is fixed.
          - Default V(false).
        type: bool
"""
