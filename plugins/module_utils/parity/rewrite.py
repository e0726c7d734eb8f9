# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rewrite of password parity: drifted copies written, then verified (private to imip.server).

Used by parity.engine for password_parity. The steps: choose (_to_rewrite), then in check mode
only say what would be written (_would_rewrite); otherwise stage every write in memory
(_stage), write each shared file once and each keychain item (_write), and read every store
back from disk (_verify): only a store that holds the secret after all the writes is reported
rewritten.
"""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils.parity.shared_file import SharedFile
from ansible_collections.imip.server.plugins.module_utils.parity.store import ABSENT, DRIFT, ERROR, MATCH, MISSING, StoreError


def rewrite_stores(stores, secret, check_mode):
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
        return _would_rewrite(chosen, verbs, stuck)
    if stuck:
        for store in chosen:
            store.msg += ("; not rewritten: nothing is written while a copy this run does not write is stale (%s)"
                          % ", ".join(stuck))
        return []
    if not chosen:
        return []
    diffs = [_diff(store) for store in chosen]
    if _stage(chosen, secret, verbs):
        _write(chosen, verbs)
        _verify(stores, secret, verbs)
    return diffs


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


def _would_rewrite(chosen, verbs, stuck):
    """Check mode: each chosen store says what it would be; the diffs of all of them."""
    for store in chosen:
        store.changed = True
        store.msg += "; would %s" % verbs[store.name]
        if stuck:
            store.msg += " once %s holds the password (not written by this run)" % ", ".join(stuck)
    return [_diff(store) for store in chosen]


def _stage(chosen, secret, verbs):
    """Stage every write in memory first: a failure here (a hash that cannot be made, a
    credential that cannot be encrypted) leaves every store as it was. False then."""
    for store in chosen:
        try:
            store.stage(secret)
        except StoreError as exc:
            for other in chosen:
                other.msg += ("; %s failed: %s" % (verbs[other.name], exc)) if other is store else (
                    "; not rewritten: %s could not be prepared, so nothing was written" % store.name)
            store.status = ERROR
            return False
    return True


def _write(chosen, verbs):
    """Write each shared file once, each keychain item; a failed write is an error of its stores."""
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


def _verify(stores, secret, verbs):
    """Read every store back from disk: a store is right only if it holds the secret now,
    after every write (a lost update shows up here, not in the next run)."""
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


def _unit(store):
    """What is written for a store: its shared file, or the store itself (a keychain item)."""
    return store.file if store.file is not None else store
