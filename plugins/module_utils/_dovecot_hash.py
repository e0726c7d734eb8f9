# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Dovecot password schemes mapped onto passlib handlers (private to imip.server).

Hashes are verified, never compared as strings: a hash with a random salt differs on every
run, so comparing strings would make every run "changed".

The `passlib` API comes from the maintained `libpass` distribution on the controller and in
virtual environments, or from Debian's `python3-passlib` on managed hosts. Nothing here is
imported eagerly by the modules: a host without passlib fails only when a `passwd_file`
store is used, with a message that says how to install it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import traceback

PASSLIB_IMPORT_ERROR = None
try:
    from passlib import hash as _passlib_hash
    from passlib.exc import MissingBackendError
except ImportError:  # pragma: no cover - exercised by test_passlib_missing
    _passlib_hash = None
    PASSLIB_IMPORT_ERROR = traceback.format_exc()

    class MissingBackendError(Exception):
        """Stand-in so that `except MissingBackendError` works without passlib."""


PASSLIB_INSTALL_HINT = (
    "The Python library passlib is required on the managed host for passwd_file stores. "
    "On Debian or Ubuntu install the package python3-passlib (plus python3-bcrypt for "
    "BLF-CRYPT and python3-argon2 for ARGON2I/ARGON2ID); in a virtual environment install "
    "libpass (the maintained distribution of the passlib API; plain passlib 1.7.4 from PyPI "
    "breaks with bcrypt >= 4.1)."
)

BACKEND_HINTS = {
    "bcrypt": "install python3-bcrypt (Debian) or bcrypt (pip)",
    "argon2": "install python3-argon2 (Debian) or argon2-cffi (pip)",
}

# Dovecot's own defaults (doveadm pw): every login pays the hash cost, so match them.
SHA_CRYPT_ROUNDS = 5000
BLF_CRYPT_ROUNDS = 5
# bcrypt uses the first 72 bytes of a password and ignores the rest (bcrypt >= 5 refuses
# longer ones). passlib refuses passwords over 4096 bytes for every hash.
BCRYPT_MAX_BYTES = 72
PASSLIB_MAX_BYTES = 4096
# libsodium's "interactive" limits, as doveadm pw writes them on Debian 12.
ARGON2I_SETTINGS = {"type": "I", "memory_cost": 32768, "rounds": 4, "parallelism": 1}
ARGON2ID_SETTINGS = {"type": "ID", "memory_cost": 65536, "rounds": 3, "parallelism": 1}


class SchemeError(Exception):
    """An unknown or unsupported scheme, or a hash that does not fit its scheme.

    Messages never quote the hash or any other part of the password field.
    """


class SchemeLimitError(SchemeError):
    """The password is longer than the scheme can hold (bcrypt: 72 bytes)."""


class Scheme(object):
    """One Dovecot scheme: how to verify it and, if writable, how to hash with it."""

    def __init__(self, name, handler, writable, pattern=None, using=None):
        self.name = name
        self.handler = handler      # passlib.hash attribute name, or None for own code
        self.writable = writable
        self.pattern = pattern      # regex the stored hash must match
        self.using = using or {}    # settings for passlib's handler.using()

    def passlib_handler(self):
        require_passlib()
        return getattr(_passlib_hash, self.handler)


_SCHEMES = [
    Scheme("SHA512-CRYPT", "sha512_crypt", True, r"^\$6\$", {"rounds": SHA_CRYPT_ROUNDS}),
    Scheme("SHA256-CRYPT", "sha256_crypt", True, r"^\$5\$", {"rounds": SHA_CRYPT_ROUNDS}),
    Scheme("MD5-CRYPT", "md5_crypt", False, r"^\$1\$"),
    Scheme("BLF-CRYPT", "bcrypt", True, r"^\$2[abxy]?\$", {"ident": "2y", "rounds": BLF_CRYPT_ROUNDS}),
    Scheme("DES-CRYPT", "des_crypt", False, r"^[./0-9A-Za-z]{13}$"),
    Scheme("ARGON2I", "argon2", True, r"^\$argon2i\$", ARGON2I_SETTINGS),
    Scheme("ARGON2ID", "argon2", True, r"^\$argon2id\$", ARGON2ID_SETTINGS),
    Scheme("SSHA512", "ldap_salted_sha512", True),
    Scheme("SSHA256", "ldap_salted_sha256", True),
    Scheme("PLAIN", "plaintext", True),
    # CRYPT is libc crypt(3): the hash's own prefix says which algorithm. Verify only:
    # writing DES crypt would silently truncate the password to 8 characters.
    Scheme("CRYPT", None, False),
]
SCHEMES = dict((s.name, s) for s in _SCHEMES)
ALIASES = {"CLEARTEXT": "PLAIN", "BLF": "BLF-CRYPT"}
# Formats crypt(3) recognises that passlib verifies (yescrypt "$y$" is not among them).
_CRYPT_FORMATS = [
    (r"^\$6\$", "sha512_crypt"),
    (r"^\$5\$", "sha256_crypt"),
    (r"^\$1\$", "md5_crypt"),
    (r"^\$2[abxy]?\$", "bcrypt"),
    (r"^[./0-9A-Za-z]{13}$", "des_crypt"),
]
_SSHA_DIGESTS = {"SSHA512": hashlib.sha512, "SSHA256": hashlib.sha256}
_PREFIX = re.compile(r"^\{([A-Za-z0-9._-]+)\}")


def supported_verify():
    return sorted(SCHEMES)


def supported_write():
    """The schemes a hash can be written with: the one list the roles and modules check against."""
    return sorted(s.name for s in _SCHEMES if s.writable)


def write_problem(scheme_name):
    """Why `scheme_name` cannot be written (unknown or verify-only), or None."""
    name = canonical(scheme_name)
    if name is None or not SCHEMES[name].writable:
        return "unknown or read-only password scheme %s; the schemes a hash can be written with: %s" % (
            scheme_name, ", ".join(supported_write()))
    return None


def scheme_errors(value, variable):
    """Messages naming `variable` for every scheme in `value` that cannot be written.

    `value` is one scheme name, or a list of accounts (mappings) whose optional `scheme` key
    is checked (messages then name `variable[i].scheme`). This is how the roles check their
    scheme variables against the one list (supported_write), before anything is installed.
    """
    if value is None:
        return []
    if isinstance(value, str):
        problem = write_problem(value)
        return ["%s: %s" % (variable, problem)] if problem else []
    errors = []
    for index, account in enumerate(value):
        scheme = account.get("scheme") if hasattr(account, "get") else None
        if scheme is not None:
            problem = write_problem(str(scheme))
            if problem:
                errors.append("%s[%d].scheme: %s" % (variable, index, problem))
    return errors


def _limit_problem(handler, secret):
    size = len(secret.encode("utf-8"))
    if handler == "bcrypt" and size > BCRYPT_MAX_BYTES:
        return ("BLF-CRYPT (bcrypt) uses only the first %d bytes of a password and this password is longer; "
                "use another scheme (SHA512-CRYPT, ARGON2ID, ...)" % BCRYPT_MAX_BYTES)
    if handler not in (None, "plaintext") and size > PASSLIB_MAX_BYTES:
        return "the password is longer than %d bytes, which passlib does not hash" % PASSLIB_MAX_BYTES
    return None


def secret_problem(scheme_name, secret):
    """Why `secret` cannot be hashed with `scheme_name` (a scheme limit), or None.

    Checked before anything is written, so a limit is a clear input error, never a crash.
    """
    name = canonical(scheme_name)
    if name is None:
        return None
    return _limit_problem(SCHEMES[name].handler, secret)


def have_passlib():
    return _passlib_hash is not None


def require_passlib():
    if _passlib_hash is None:
        raise SchemeError(PASSLIB_INSTALL_HINT)


def canonical(name):
    """Canonical upper-case scheme name, or None when the name is unknown."""
    if name is None:
        return None
    upper = name.upper()
    upper = ALIASES.get(upper, upper)
    return upper if upper in SCHEMES else None


def split(password_field, default_scheme="CRYPT"):
    """Split a passwd-file password field into (SCHEME as written, hash data).

    Without a `{SCHEME}` prefix Dovecot uses its default_pass_scheme (CRYPT in 2.3).
    """
    match = _PREFIX.match(password_field)
    if not match:
        return default_scheme, password_field
    return match.group(1), password_field[match.end():]


def _handler_error(scheme, exc):
    for backend, hint in BACKEND_HINTS.items():
        if backend in str(exc).lower() or backend == scheme.handler:
            return SchemeError("scheme %s needs passlib's %s backend: %s" % (scheme.name, backend, hint))
    return SchemeError("scheme %s: passlib has no usable backend (%s)" % (scheme.name, type(exc).__name__))


def _verify_ssha(name, secret, data):
    """SSHA256/SSHA512 as Dovecot writes them: base64(digest(password + salt) + salt).

    passlib's ldap_salted_sha* handlers verify exactly this layout, but accept only 4..16 byte
    salts; other salt lengths are verified here with the same construction.
    """
    digest = _SSHA_DIGESTS[name]
    size = digest().digest_size
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise SchemeError("the %s hash is not valid base64" % name)
    if len(raw) <= size:
        raise SchemeError("the %s hash is too short" % name)
    expected, salt = raw[:size], raw[size:]
    handler = SCHEMES[name].passlib_handler()
    if handler.min_salt_size <= len(salt) <= handler.max_salt_size:
        return bool(handler.verify(secret, "{%s}%s" % (name, data)))
    return hmac.compare_digest(digest(secret.encode("utf-8") + salt).digest(), expected)


def verify(secret, password_field, default_scheme="CRYPT"):
    """True when `secret` matches the stored password field. Raises SchemeError."""
    written, data = split(password_field, default_scheme)
    name = canonical(written)
    if name is None:
        # Not quoted: the prefix is file content.
        raise SchemeError("the password field has an unknown {SCHEME} prefix; supported: %s" % ", ".join(supported_verify()))
    scheme = SCHEMES[name]
    if name == "PLAIN":
        return hmac.compare_digest(secret.encode("utf-8"), data.encode("utf-8"))
    require_passlib()
    if name == "CRYPT":
        for pattern, handler in _CRYPT_FORMATS:
            if re.match(pattern, data):
                scheme = Scheme("CRYPT", handler, False)
                break
        else:
            raise SchemeError("the {CRYPT} hash has a format passlib cannot verify (e.g. yescrypt)")
    elif scheme.pattern and not re.match(scheme.pattern, data):
        raise SchemeError("the hash does not have the format of {%s}" % name)
    limit = _limit_problem(scheme.handler, secret)
    if limit:
        raise SchemeLimitError("the {%s} hash cannot hold this password: %s" % (name, limit))
    if name in _SSHA_DIGESTS:
        return _verify_ssha(name, secret, data)
    handler = scheme.passlib_handler()
    try:
        return bool(handler.verify(secret, data))
    except MissingBackendError as exc:
        raise _handler_error(scheme, exc)
    except (ValueError, TypeError):
        raise SchemeError("the {%s} hash is malformed" % name)


def make(secret, scheme_name):
    """A new `{SCHEME}hash` password field for `secret`. Raises SchemeError."""
    name = canonical(scheme_name)
    if name is None or not SCHEMES[name].writable:
        raise SchemeError("cannot write scheme %s" % scheme_name)
    scheme = SCHEMES[name]
    limit = _limit_problem(scheme.handler, secret)
    if limit:
        raise SchemeLimitError(limit)
    if name == "PLAIN":
        return "{PLAIN}" + secret
    handler = scheme.passlib_handler()
    try:
        hashed = handler.using(**scheme.using).hash(secret) if scheme.using else handler.hash(secret)
    except MissingBackendError as exc:
        raise _handler_error(scheme, exc)
    if hashed.startswith("{"):  # ldap_salted_* already carry {SSHA512} / {SSHA256}
        return hashed
    return "{%s}%s" % (name, hashed)
