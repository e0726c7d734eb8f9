# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The password parity engine shared by password_parity_info and password_parity (private to imip.server).

One password, many stored copies ("stores": parity.store, and one module per family of types).
A run:

1. checks the input: every store's spec, that no two stores are the same copy, that stores
   sharing a file agree on its format, and that every store can hold the secret;
2. reads every store (a file shared by several stores is read once);
3. compares each with the secret, or, without one, groups the stores by value (audit);
4. with `rewrite`, stages the writes in memory (stores in one file edit one text), then writes
   each file once and each keychain item, then reads every store back from disk and verifies
   it: only then is a store reported "rewritten";
5. runs the live probes last, so the result says whether the services accept the password now.

Results carry names, types, statuses and messages only: never a secret, a hash, or anything
derived from one. Messages never quote file content.

The audit (step 3 without a secret) is parity.audit, the rewrite (step 4) parity.rewrite.
"""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils._fileio import describe_loose_mode
from ansible_collections.imip.server.plugins.module_utils.parity.audit import audit
from ansible_collections.imip.server.plugins.module_utils.parity.rewrite import rewrite_stores
from ansible_collections.imip.server.plugins.module_utils.parity.shared_file import SharedFiles
from ansible_collections.imip.server.plugins.module_utils.parity.store import ABSENT, DRIFT, ERROR, MATCH, MISSING, ParityInputError, StoreError
from ansible_collections.imip.server.plugins.module_utils.parity.store_types import STORE_OPTIONS, TYPES

STORES_SPEC = dict(type="list", elements="dict", required=True, options=STORE_OPTIONS)
INSECURE_FILES = ("warn", "fail")

__all__ = ["MATCH", "DRIFT", "ABSENT", "ERROR", "STORES_SPEC", "STORE_OPTIONS", "INSECURE_FILES",
           "ParityInputError", "StoreError", "build_stores", "check_secret", "needs_passlib", "run"]


# ---------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------

def build_stores(specs, context=None):
    """Validate the `stores` option and return Store objects. Raises ParityInputError."""
    context = context or {}
    if not specs:
        raise ParityInputError("stores is empty: give at least one store")
    seen, stores = set(), []
    for number, spec in enumerate(specs, 1):
        name, kind = spec.get("name"), spec.get("type")
        if not name:
            raise ParityInputError("store number %d has no name" % number)
        if name in seen:
            raise ParityInputError("store name %s is used twice; names must be unique" % name)
        seen.add(name)
        stores.append(_store(spec, "store %s (%s)" % (name, kind), context))
    _check_same_copies(stores)
    files = SharedFiles()
    for store in stores:
        store.attach(files)
    _check_shared_files(stores)
    return stores


def _store(spec, label, context):
    """One store of its type, its options and spec checked. Raises ParityInputError."""
    cls = TYPES.get(spec.get("type"))
    if cls is None:
        raise ParityInputError("%s: unknown type; supported: %s" % (label, ", ".join(TYPES)))
    required = [o for o, declared in cls.options.items() if declared.get("required")]
    missing = [o for o in required if spec.get(o) in (None, "")]
    if missing:
        raise ParityInputError("%s: missing %s" % (label, ", ".join(missing)))
    extra = sorted(o for o, v in spec.items() if v is not None and o not in ("name", "type") and o not in cls.options)
    if extra:
        raise ParityInputError("%s: option %s does not apply to this type (it takes %s)"
                               % (label, ", ".join(extra), ", ".join(cls.options)))
    problem = cls.spec_problem(spec, context)
    if problem:
        raise ParityInputError("%s: %s" % (label, problem))
    return cls(spec, context)


def _check_same_copies(stores):
    by_identity = {}
    for store in stores:
        other = by_identity.setdefault(store.identity(), store)
        if other is not store:
            raise ParityInputError("stores %s and %s are the same copy (%s); list it once"
                                   % (other.name, store.name, store.where))


def _check_shared_files(stores):
    """Stores in one file must agree on what it is; a whole-file store owns its file alone."""
    by_file = {}
    for store in stores:
        if store.file is not None:
            by_file.setdefault(id(store.file), []).append(store)
    for members in by_file.values():
        formats = set(s.file_format for s in members)
        if len(members) > 1 and (len(formats) > 1 or "whole file" in formats):
            raise ParityInputError(
                "stores %s all use %s, as %s: a file holds one format, and a file store owns the whole file"
                % (", ".join(s.name for s in members), members[0].file.path,
                   ", ".join("%s (%s)" % (s.name, s.file_format) for s in members)))


def check_secret(stores, secret, rewrite=False):
    """Rules every store can hold, then each store's own rules. Raises ParityInputError."""
    if secret is None:
        if rewrite:
            raise ParityInputError("rewriting needs the secret")
        return
    if secret == "":
        raise ParityInputError("secret is empty")
    if "\n" in secret or "\r" in secret or "\0" in secret:
        raise ParityInputError("secret contains a line break or NUL character, which the stores cannot hold")
    for store in stores:
        problem = store.secret_problem(secret, rewrite and store.writable)
        if problem:
            raise ParityInputError("store %s (%s): %s" % (store.name, store.type, problem))


def needs_passlib(specs):
    return any(getattr(TYPES.get(spec.get("type")), "needs_passlib", False) for spec in specs)


# ---------------------------------------------------------------------------------------
# Reading and comparing
# ---------------------------------------------------------------------------------------

def _read(store):
    try:
        store.read()
    except StoreError as exc:
        store.status, store.msg = ERROR, str(exc)
        return
    if store.value is MISSING:
        store.status, store.msg = ABSENT, store.missing_message()


def _check_modes(stores, insecure_files):
    """One warning per loose file, naming it, its mode and its stores; with `fail`, an error."""
    loose = {}
    for store in stores:
        if store.probe or store.status == ERROR:
            continue
        for path, mode in store.loose_files():
            loose.setdefault(path, (mode, []))[1].append(store)
    warnings = []
    for path, (mode, members) in sorted(loose.items()):
        text = ("%s holds a copy of the password (%s) and is %s (mode %04o); fix: chmod o-rwx,g-w %s"
                % (path, ", ".join(s.name for s in members), describe_loose_mode(mode), mode, path))
        if insecure_files == "fail":
            for store in members:
                store.status, store.msg = ERROR, text
        else:
            warnings.append(text)
    return warnings


def _compare(store, secret):
    """Set match/drift for a store that was read; errors become status error."""
    try:
        held = store.holds(secret)
    except StoreError as exc:
        store.status, store.msg = ERROR, str(exc)
        return
    if held:
        store.status, store.msg = MATCH, store.match_message()
    else:
        store.status, store.msg = DRIFT, store.drift_message()


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------

def run(stores, secret=None, rewrite=False, check_mode=False, insecure_files="warn"):
    """Read, compare, (re)write and probe. Returns (result, diffs, warnings).

    `rewrite` is password_parity: rewrite writable drifted stores (and missing stores that have
    `create: true`), but only when every non-probe store was read successfully.
    """
    check_secret(stores, secret, rewrite)
    for store in stores:
        if not store.probe:
            _read(store)
    warnings = _check_modes(stores, insecure_files)
    diffs, groups = [], []
    if secret is None:
        groups = audit(stores)
    else:
        diffs = _against_secret(stores, secret, rewrite, check_mode)
    in_parity = bool(stores) and all(_right_now(s, check_mode) for s in stores)
    if secret is None:
        in_parity = in_parity and len(groups) == 1
    result = dict(
        in_parity=in_parity,
        drifted=[s.name for s in stores if s.status == DRIFT],
        stores=[s.result() for s in stores],
        groups=groups,
        changed=any(s.changed for s in stores),
    )
    return result, diffs, warnings


def _against_secret(stores, secret, rewrite, check_mode):
    """Compare every store that was read, rewrite (password_parity), then probe. Returns the diffs."""
    diffs = []
    for store in stores:
        if store.status is None and not store.probe:
            _compare(store, secret)
    if rewrite:
        diffs = rewrite_stores(stores, secret, check_mode)
    for store in stores:
        if store.probe:
            _compare(store, secret)
    return diffs


def _right_now(store, check_mode):
    """Whether a store holds the password once this run is done."""
    return store.status == MATCH or (store.changed and not check_mode and store.status in (DRIFT, ABSENT))
