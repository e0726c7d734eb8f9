# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The password parity engine shared by password_parity_info and password_parity.

One password, many stored copies ("stores", see _parity_stores). A run:

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
"""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils._fileio import describe_loose_mode
from ansible_collections.imip.server.plugins.module_utils._parity_stores import (
    MISSING,
    STORE_OPTIONS,
    TYPES,
    ParityInputError,
    SharedFile,
    SharedFiles,
    StoreError,
)

MATCH, DRIFT, ABSENT, ERROR = "match", "drift", "missing", "error"
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
        label = "store %s (%s)" % (name, kind)
        cls = TYPES.get(kind)
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
        stores.append(cls(spec, context))
    _check_same_copies(stores)
    files = SharedFiles()
    for store in stores:
        store.attach(files)
    _check_shared_files(stores)
    return stores


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


def _audit(stores):
    """Group stores that hold the same value. Returns the groups, largest first."""
    groups = []  # [[value or None, [stores]]]
    for store in stores:
        if store.status is None and store.plaintext:
            for group in groups:
                if group[0] == store.value:
                    group[1].append(store)
                    break
            else:
                groups.append([store.value, [store]])
    groups.sort(key=lambda g: -len(g[1]))
    # Hashes and probes can only say yes or no to a candidate: try the plaintext values,
    # most common first; a store that accepts none of them holds some other value.
    candidates = list(groups)
    untried = []
    for store in stores:
        if store.status is not None or store.plaintext:
            continue
        if not candidates:
            untried.append(store)
            continue
        try:
            for group in candidates:
                if store.holds(group[0]):
                    group[1].append(store)
                    break
            else:
                groups.append([None, [store]])
        except StoreError as exc:
            store.status, store.msg = ERROR, str(exc)
    for store in untried:
        store.status = ERROR
        store.msg = "cannot be audited without a secret: no store with a readable value (keychain, ini, file) to try against it"
    groups.sort(key=lambda g: -len(g[1]))
    tie = len(groups) > 1 and len(groups[0][1]) == len(groups[1][1])
    for rank, (_value, members) in enumerate(groups):
        names = [s.name for s in members]
        for store in members:
            peers = [n for n in names if n != store.name]
            with_peers = ("with %s" % ", ".join(peers)) if peers else "alone"
            if rank == 0 and not tie:
                store.status = MATCH
                store.msg = "in the majority (%s)" % with_peers if len(groups) > 1 else (
                    "all stores agree" if peers else "the only store with a value")
            elif tie:
                store.status = DRIFT
                store.msg = "no majority: %d groups of %d stores tie for largest; this store is in a group %s" % (
                    sum(1 for g in groups if len(g[1]) == len(groups[0][1])), len(groups[0][1]), with_peers)
            else:
                store.status = DRIFT
                store.msg = "differs from the majority (%s)" % ", ".join(s.name for s in groups[0][1])
                if peers:
                    store.msg += "; holds the same value as %s" % ", ".join(peers)
                if store.probe:
                    store.msg = "%s rejects the majority's password; %s" % (store.where, store.msg)
    return [[s.name for s in members] for _value, members in groups]


# ---------------------------------------------------------------------------------------
# Rewriting
# ---------------------------------------------------------------------------------------

def _diff(store):
    header = "%s (%s)" % (store.name, store.where)
    return dict(before_header=header, after_header=header,
                before="%s: %s\n" % (store.name, "(missing)" if store.status == ABSENT else "(hidden: drifted value)"),
                after="%s: (hidden: the password)\n" % store.name)


def _to_rewrite(stores):
    """(stores to write, unreadable store names, stale stores this run will not write).

    Notes on each drifted or missing store that is not to be written why it is not.
    """
    unread = [s.name for s in stores if not s.probe and s.status == ERROR]
    candidates, stuck = [], []
    for store in stores:
        if store.probe or store.status not in (DRIFT, ABSENT):
            continue
        if store.readonly:
            store.msg += "; not rewritten: the store is readonly"
        elif store.status == ABSENT and not store.create:
            store.msg += "; not created (set create: true to create it)"
        elif store.status == ABSENT and store.create_problem():
            store.msg += "; not created: %s" % store.create_problem()
        else:
            candidates.append(store)
            continue
        stuck.append(store.name)
    return candidates, unread, stuck


def _rewrite(stores, secret, check_mode):
    """Write the drifted copies, or (check mode) say which would be written.

    Nothing is written while a store cannot be read, or while a stale store will not be written
    (readonly, or missing and not to be created): the run could not end in parity, and
    rewriting the other copies would only move the split (a gateway that works with the old
    password would stop working while the server still expects it). In check mode such copies
    are still reported, as they would be rewritten once the stale copy is fixed by whoever
    writes it (in site.yml, a role that runs earlier), so that --check --diff shows the whole
    remediation.
    """
    chosen, unread, stuck = _to_rewrite(stores)
    if unread:
        for store in chosen:
            store.msg += "; not rewritten: nothing is written while a store cannot be read (%s)" % ", ".join(unread)
        return []
    verbs = dict((store.name, "create" if store.status == ABSENT else "rewrite") for store in chosen)
    if check_mode:
        for store in chosen:
            store.changed = True
            store.msg += "; would %s" % verbs[store.name]
            if stuck:
                store.msg += " once %s holds the password (not written by this run)" % ", ".join(stuck)
        return [_diff(store) for store in chosen]
    if stuck:
        for store in chosen:
            store.msg += ("; not rewritten: nothing is written while a copy this run does not write is stale (%s)"
                          % ", ".join(stuck))
        return []
    if not chosen:
        return []
    diffs = [_diff(store) for store in chosen]

    # Stage every write in memory first: a failure here (a hash that cannot be made, a
    # credential that cannot be encrypted) leaves every store as it was.
    for store in chosen:
        try:
            store.stage(secret)
        except StoreError as exc:
            for other in chosen:
                other.msg += ("; %s failed: %s" % (verbs[other.name], exc)) if other is store else (
                    "; not rewritten: %s could not be prepared, so nothing was written" % store.name)
            store.status = ERROR
            return diffs

    # Then write: each shared file once, each keychain item.
    failed = {}
    for unit in dict((id(_unit(s)), _unit(s)) for s in chosen).values():
        try:
            if not isinstance(unit, SharedFile):
                unit.commit()
            elif unit.dirty:
                unit.write()
        except StoreError as exc:
            failed[id(unit)] = str(exc)
    for store in chosen:
        if id(_unit(store)) in failed:
            store.status = ERROR
            store.msg += "; %s failed: %s" % (verbs[store.name], failed[id(_unit(store))])
        else:
            store.changed = True

    # Then read every store back from disk: a store is right only if it holds the secret now,
    # after every write (a lost update shows up here, not in the next run).
    for shared in set(s.file for s in stores if s.file is not None):
        shared.reload()
    for store in stores:
        if store.probe or not (store.changed or store.status == MATCH):
            continue
        reason = ""
        try:
            store.read()
            verified = store.value is not MISSING and store.holds(secret)
        except StoreError as exc:
            verified, reason = False, ": %s" % exc
        if store.changed and verified:
            store.msg += "; rewritten" if verbs[store.name] == "rewrite" else "; created"
        elif store.changed:
            store.status = ERROR
            store.msg += "; written, but reading it back does not give the password%s" % reason
        elif not verified:
            store.status = ERROR
            store.msg = "held the password before the writes of this run, but not after them%s" % reason
    return diffs


def _unit(store):
    """What is written for a store: its shared file, or the store itself (a keychain item)."""
    return store.file if store.file is not None else store


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
        groups = _audit(stores)
    else:
        for store in stores:
            if store.status is None and not store.probe:
                _compare(store, secret)
        if rewrite:
            diffs = _rewrite(stores, secret, check_mode)
        for store in stores:
            if store.probe:
                _compare(store, secret)

    def right_now(store):
        return store.status == MATCH or (store.changed and not check_mode and store.status in (DRIFT, ABSENT))

    in_parity = bool(stores) and all(right_now(s) for s in stores)
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
