#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

"""Write the mail role's Dovecot passwd-file: exactly the given accounts, hashes kept while they verify.

Run by roles/mail/tasks/dovecot.yml as `python3 -c <this file>` with everything else on stdin, so
that no password is ever in a process's arguments, a file outside the passwd-file, or a log:

    {"dovecot_hash": "<source of plugins/module_utils/_dovecot_hash.py>", "path": "...",
     "users": [{"address": "...", "password": "...", "scheme": null}], "scheme": "SHA512-CRYPT",
     "owner": "root", "group": "dovecot", "mode": "0640", "check_mode": false}

It prints one JSON object: changed, added, removed, rehashed (names only), warnings, diff or msg.
An existing hash is kept when it verifies against the password (whatever its scheme); otherwise
it is rewritten with the account's scheme. Hashing uses passlib on this host (python3-passlib)
through the collection's Dovecot scheme table, passed in as source so that nothing needs
installing first (this also runs under --check on a fresh host).
"""

import grp
import os
import pwd
import tempfile

import json
import sys
import types


class Failure(Exception):
    pass


def load_dovecot_hash(source):
    module = types.ModuleType("_dovecot_hash")
    exec(compile(source, "_dovecot_hash.py", "exec"), module.__dict__)  # the collection's own code
    return module


def parse(text):
    """{user: password field} and the order of users in an existing passwd-file."""
    fields, order = {}, []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        user, rest = line.split(":", 1)
        if user not in fields:
            order.append(user)
        fields[user] = rest.split(":", 1)[0]
    return fields, order


def write(params, path, text):
    """Replace the file atomically; the new file has its final owner and mode before it appears."""
    try:
        uid = pwd.getpwnam(params["owner"]).pw_uid
        gid = grp.getgrnam(params["group"]).gr_gid
        mode = int(str(params["mode"]), 8)
    except (KeyError, ValueError) as exc:
        raise Failure("cannot set owner %s, group %s, mode %s on %s: %s"
                      % (params["owner"], params["group"], params["mode"], path, exc))
    fd, tmp = tempfile.mkstemp(prefix=".imip-passwd-", dir=os.path.dirname(path) or ".")
    try:
        os.fchmod(fd, 0o600)
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fix_attributes(params, path, check_mode):
    """Owner, group and mode of an existing file; True when they were (or would be) changed."""
    try:
        uid, gid = pwd.getpwnam(params["owner"]).pw_uid, grp.getgrnam(params["group"]).gr_gid
    except KeyError as exc:
        if check_mode:
            return True  # the group comes with a package the run has not installed yet
        raise Failure("unknown owner or group: %s" % exc)
    mode = int(str(params["mode"]), 8)
    stat = os.stat(path)
    changed = False
    if (stat.st_uid, stat.st_gid) != (uid, gid):
        changed = True
        if not check_mode:
            os.chown(path, uid, gid)
    if stat.st_mode & 0o7777 != mode:
        changed = True
        if not check_mode:
            os.chmod(path, mode)
    return changed


def run(params):
    dh = load_dovecot_hash(params["dovecot_hash"])
    check_mode = bool(params.get("check_mode"))
    warnings = []
    path, users = params["path"], params["users"]

    for i, user in enumerate(users):
        user["address"] = user["address"].lower()
        user["scheme"] = user.get("scheme") or params.get("scheme") or "SHA512-CRYPT"
        if not user["password"]:
            raise Failure("users[%d] (%s): the password is empty" % (i, user["address"]))
        if any(c in user["address"] for c in ":\n\r") or "\n" in user["password"] or "\r" in user["password"]:
            raise Failure("users[%d]: an address must not contain ':' or line breaks, a password no line breaks" % i)
        scheme = dh.canonical(user["scheme"])
        if scheme is None or scheme not in dh.supported_write():
            raise Failure("users[%d] (%s): unknown or read-only password scheme %s; use one of %s"
                          % (i, user["address"], user["scheme"], ", ".join(dh.supported_write())))
        if scheme == "PLAIN" and ":" in user["password"]:
            raise Failure("users[%d] (%s): scheme PLAIN cannot hold a password containing ':'" % (i, user["address"]))

    existing_text = None
    if os.path.exists(path):
        with open(path, "r", encoding="utf-8") as handle:
            existing_text = handle.read()
    fields, order = parse(existing_text or "")

    added, rehashed, lines = [], [], []
    for user in users:
        address, secret = user["address"], user["password"]
        field = fields.get(address)
        keep = False
        if field is not None:
            try:
                keep = dh.verify(secret, field)
            except dh.SchemeError as exc:
                if check_mode and not dh.have_passlib():
                    warnings.append("%s: cannot verify without passlib (the role installs it); assuming a rehash" % address)
                else:
                    warnings.append("%s: the stored hash cannot be verified (%s); it is rewritten" % (address, exc))
        if keep:
            lines.append("%s:%s" % (address, field))
            continue
        (rehashed if field is not None else added).append(address)
        if check_mode:
            lines.append("%s:{%s}<new hash>" % (address, dh.canonical(user["scheme"])))
            continue
        try:
            lines.append("%s:%s" % (address, dh.make(secret, user["scheme"])))
        except dh.SchemeError as exc:
            raise Failure("cannot hash the password of %s: %s" % (address, exc))

    wanted = set(u["address"] for u in users)
    removed = [u for u in order if u not in wanted]
    new_text = "".join(line + "\n" for line in lines)
    # In check mode a new hash is a placeholder: only then can the texts differ without a reason.
    content_changed = bool(added or rehashed or removed) or existing_text != new_text

    result = dict(changed=False, added=added, removed=removed, rehashed=rehashed)
    # Names only: a diff must never show a hash (it can be cracked offline) or a password.
    result["diff"] = dict(
        before_header=path, after_header=path,
        before="".join("%s:<%s>\n" % (u, "hash that does not verify" if u in rehashed else "hash") for u in order),
        after="".join("%s:<%s>\n" % (u["address"], "new hash" if u["address"] in added + rehashed else "hash")
                      for u in users),
    )

    if content_changed and not check_mode:
        write(params, path, new_text)
    result["changed"] = content_changed
    if os.path.exists(path):
        result["changed"] = fix_attributes(params, path, check_mode) or result["changed"]
    result["warnings"] = warnings
    return result


def main():
    try:
        result = run(json.load(sys.stdin))
    except Failure as exc:
        result = dict(failed=True, changed=False, msg=str(exc))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 1 if result.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
