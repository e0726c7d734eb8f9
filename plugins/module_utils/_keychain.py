# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host keychain behind imip.server.keychain_item and `keychain` parity stores.

Two backends:

* ``systemd_creds``: ``PATH/NAME.cred``, encrypted with ``systemd-creds encrypt --name=NAME``
  (host key and/or TPM2), usable by units as
  ``LoadCredentialEncrypted=NAME:/etc/credstore.encrypted/NAME.cred``.
* ``file``: ``PATH/NAME`` holding the secret itself, mode 0600 in a 0700 directory.

Both keep optional metadata (the account the secret belongs to) in ``PATH/NAME.meta``, a
0600 JSON file. The secret always travels through stdin/stdout of ``systemd-creds``, never
through process arguments.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat

from ansible_collections.imip.server.plugins.module_utils._fileio import (
    atomic_write,
    os_reason,
    strip_newline,
)

BACKENDS = ("systemd_creds", "file")
DEFAULT_PATHS = {
    "systemd_creds": "/etc/credstore.encrypted",
    "file": "/etc/imip/keychain",
}
META_SUFFIX = ".meta"
CRED_SUFFIX = ".cred"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,200}$")


class KeychainError(Exception):
    """A keychain item cannot be read or written; the message names the path and reason."""


def module_runner(module):
    """The same interface over AnsibleModule.run_command (bytes in and out, no added newline)."""
    def run(argv, data=None):
        rc, out, err = module.run_command(argv, data=data, binary_data=True, encoding=None)
        return rc, out, err.decode("utf-8", "replace") if isinstance(err, bytes) else err
    return run


def check_name(name):
    if not name or not _NAME.match(name) or name.endswith(META_SUFFIX):
        raise KeychainError(
            "invalid keychain item name %r: use letters, digits and . _ @ + - "
            "(not starting with a dot, not ending in %s)" % (name, META_SUFFIX)
        )


def resolve_backend(backend, systemd_creds_bin=None):
    """`auto` becomes systemd_creds where the binary exists, else file."""
    if backend in (None, "auto"):
        return "systemd_creds" if systemd_creds_bin else "file"
    if backend not in BACKENDS:
        raise KeychainError("unknown keychain backend %r (supported: auto, %s)" % (backend, ", ".join(BACKENDS)))
    return backend


def find_systemd_creds():
    return shutil.which("systemd-creds") or (
        "/usr/bin/systemd-creds" if os.path.exists("/usr/bin/systemd-creds") else None
    )


class Keychain(object):
    """One keychain directory with one backend."""

    def __init__(self, backend="auto", path=None, systemd_creds_bin=None, run=None):
        if systemd_creds_bin is None and backend in (None, "auto", "systemd_creds"):
            systemd_creds_bin = find_systemd_creds()
        self.backend = resolve_backend(backend, systemd_creds_bin)
        self.path = path or DEFAULT_PATHS[self.backend]
        self.systemd_creds_bin = systemd_creds_bin
        # run(argv, data) -> (rc, stdout bytes, stderr text); module_runner(module) in modules.
        self.run = run
        if self.backend == "systemd_creds" and not self.systemd_creds_bin:
            raise KeychainError("backend systemd_creds needs the systemd-creds binary (systemd >= 250), which is not installed")
        if self.backend == "systemd_creds" and self.run is None:
            raise KeychainError("backend systemd_creds needs a command runner")

    # Paths -------------------------------------------------------------------------------

    def item_path(self, name):
        check_name(name)
        suffix = CRED_SUFFIX if self.backend == "systemd_creds" else ""
        return os.path.join(self.path, name + suffix)

    def meta_path(self, name):
        check_name(name)
        return os.path.join(self.path, name + META_SUFFIX)

    # Reading -----------------------------------------------------------------------------

    def read(self, name):
        """The stored secret (trailing line break stripped), or None when the item is missing."""
        path = self.item_path(name)
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KeychainError("cannot read %s: %s" % (path, os_reason(exc)))
        if self.backend == "file":
            return strip_newline(raw.decode("utf-8", "replace"))
        argv = [self.systemd_creds_bin, "decrypt", "--name=%s" % name, path, "-"]
        rc, out, err = self.run(argv, None)
        if rc != 0:
            raise KeychainError("cannot decrypt %s with systemd-creds: %s" % (path, _last_line(err) or "exit code %d" % rc))
        return strip_newline(out.decode("utf-8", "replace"))

    def read_account(self, name):
        path = self.meta_path(name)
        try:
            with open(path, "r") as handle:
                return json.load(handle).get("account")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, AttributeError) as exc:
            reason = os_reason(exc) if isinstance(exc, OSError) else "not a JSON object"
            raise KeychainError("cannot read %s: %s" % (path, reason))

    def directory_needs_fix(self):
        """'create' when the directory is missing, 'mode' when group/others have access."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "create"
        except OSError as exc:
            raise KeychainError("cannot stat %s: %s" % (self.path, os_reason(exc)))
        if not stat.S_ISDIR(st.st_mode):
            raise KeychainError("%s exists and is not a directory" % self.path)
        return "mode" if st.st_mode & 0o077 else None

    # Writing -----------------------------------------------------------------------------

    def ensure_directory(self):
        try:
            need = self.directory_needs_fix()
            if need == "create":
                parent = os.path.dirname(self.path.rstrip("/"))
                if parent and not os.path.isdir(parent):
                    os.makedirs(parent, 0o755)
                os.mkdir(self.path, 0o700)
                os.chmod(self.path, 0o700)
            elif need == "mode":
                os.chmod(self.path, 0o700)
        except OSError as exc:
            raise KeychainError("cannot create %s: %s" % (self.path, os_reason(exc)))
        return need is not None

    def seal(self, name, secret):
        """The bytes the item's file will hold: the encrypted credential, or the secret itself.

        Nothing is written (systemd-creds may create its host key on first use). The secret
        goes through stdin, never argv.
        """
        path = self.item_path(name)
        data = secret.encode("utf-8")
        if self.backend == "systemd_creds":
            argv = [self.systemd_creds_bin, "encrypt", "--name=%s" % name, "-", "-"]
            rc, out, err = self.run(argv, data)
            if rc != 0 or not out:
                raise KeychainError("systemd-creds cannot encrypt %s: %s" % (path, _last_line(err) or "exit code %d" % rc))
            data = out
        return data

    def store(self, name, data):
        """Write sealed `data` as the item, atomically (0600; an existing item keeps its mode)."""
        self.ensure_directory()
        path = self.item_path(name)
        try:
            atomic_write(path, data, 0o600)
        except OSError as exc:
            raise KeychainError("cannot write %s: %s" % (path, os_reason(exc)))
        return path

    def write(self, name, secret):
        """Store `secret` atomically (0600). The secret goes through stdin, never argv."""
        return self.store(name, self.seal(name, secret))

    def write_account(self, name, account):
        self.ensure_directory()
        path = self.meta_path(name)
        data = json.dumps({"account": account}, sort_keys=True).encode("utf-8") + b"\n"
        try:
            atomic_write(path, data, 0o600)
        except OSError as exc:
            raise KeychainError("cannot write %s: %s" % (path, os_reason(exc)))

    def remove(self, name):
        """Remove the item and its metadata; True when something was removed."""
        removed = False
        for path in (self.item_path(name), self.meta_path(name)):
            try:
                os.unlink(path)
                removed = True
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise KeychainError("cannot remove %s: %s" % (path, os_reason(exc)))
        return removed

    def exists(self, name):
        return os.path.lexists(self.item_path(name)) or os.path.lexists(self.meta_path(name))


# How a systemd unit loads an item of each backend (systemd.exec(5), "Credentials").
UNIT_DIRECTIVES = {
    "systemd_creds": "LoadCredentialEncrypted",
    "file": "LoadCredential",
}


def locate_item(name, backend="auto", path=None):
    """Where item `name` is stored and how a unit loads it; reads no secret and runs nothing.

    backend auto looks in systemd_creds' store first, then in the file store (an item moved to
    systemd-creds wins over a stale file copy); a named backend looks in its store only, at `path`
    when given. Returns {found, backend, item_path, credential}: credential is the unit's line
    (LoadCredentialEncrypted=NAME:PATH or LoadCredential=NAME:PATH), "" when the item is found nowhere
    (item_path and backend are then those of the first store looked in).
    """
    check_name(name)
    backends = BACKENDS if backend in (None, "auto") else (resolve_backend(backend),)
    places = []
    for each in backends:
        suffix = CRED_SUFFIX if each == "systemd_creds" else ""
        places.append((each, os.path.join(path or DEFAULT_PATHS[each], name + suffix)))
    for each, item_path in places:
        if os.path.isfile(item_path):
            return {"found": True, "backend": each, "item_path": item_path,
                    "credential": "%s=%s:%s" % (UNIT_DIRECTIVES[each], name, item_path)}
    first_backend, first_path = places[0]
    return {"found": False, "backend": first_backend, "item_path": first_path, "credential": ""}


def _last_line(text):
    lines = [line for line in (text or "").strip().splitlines() if "not located on encrypted media" not in line]
    return lines[-1].strip() if lines else ""


def plan_item(keychain, name, secret, account, state):
    """Decide what keychain_item would do. Returns a dict with changes and a value-free diff."""
    path = keychain.item_path(name)
    result = {"backend": keychain.backend, "path": path, "changes": []}
    before = {"backend": keychain.backend, "path": path}
    after = dict(before)
    if state == "absent":
        present = keychain.exists(name)
        before["state"] = "present" if present else "absent"
        after["state"] = "absent"
        if present:
            result["changes"].append("remove")
    else:
        current = keychain.read(name)
        current_account = keychain.read_account(name)
        before["state"] = "present" if current is not None else "absent"
        after["state"] = "present"
        before["secret"] = "(hidden)" if current is not None else "(none)"
        if current is None:
            after["secret"] = "(hidden, new)"
            result["changes"].append("secret")
        elif current != secret:
            after["secret"] = "(hidden, changed)"
            result["changes"].append("secret")
        else:
            after["secret"] = "(hidden)"
        if account is not None:
            before["account"] = current_account
            after["account"] = account
            if current_account != account:
                result["changes"].append("account")
        elif current_account is not None:
            before["account"] = after["account"] = current_account
        if keychain.directory_needs_fix():
            result["changes"].append("directory")
    result["diff"] = {"before": before, "after": after}
    return result


def apply_item(keychain, name, secret, account, state, plan):
    if state == "absent":
        if "remove" in plan["changes"]:
            keychain.remove(name)
        return
    if "directory" in plan["changes"]:
        keychain.ensure_directory()
    if "secret" in plan["changes"]:
        keychain.write(name, secret)
    if "account" in plan["changes"]:
        keychain.write_account(name, account)
