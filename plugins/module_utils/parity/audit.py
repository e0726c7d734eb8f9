# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The audit of password parity: which stores hold the same value, without the secret
(private to imip.server).

Used by parity.engine when no secret is given. Stores with a readable value (keychain, ini,
file) are grouped by it; hashes and probes can only say yes or no to a candidate, so they are
tried against those values. The largest group is the majority; every store's status and message
say where it stands.
"""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils.parity.store import DRIFT, ERROR, MATCH, StoreError


def audit(stores):
    """Group stores that hold the same value. Returns the groups, largest first."""
    groups = _plaintext_groups(stores)
    _place_verifiers(stores, groups)
    groups.sort(key=lambda g: -len(g[1]))
    tie = len(groups) > 1 and len(groups[0][1]) == len(groups[1][1])
    for rank, (_value, members) in enumerate(groups):
        names = [s.name for s in members]
        for store in members:
            peers = [n for n in names if n != store.name]
            _place(store, rank, peers, groups, tie)
    return [[s.name for s in members] for _value, members in groups]


def _plaintext_groups(stores):
    """[[value, [stores]]] of the stores whose read gave the value itself, largest first."""
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
    return groups


def _place_verifiers(stores, groups):
    """Hashes and probes can only say yes or no to a candidate: try the plaintext values, most
    common first; a store that accepts none of them holds some other value (a group of its own)."""
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


def _place(store, rank, peers, groups, tie):
    """The status and message of a store in the group of that rank."""
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
