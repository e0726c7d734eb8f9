# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The decision of tls_service_reload: which running services have not loaded the certificate."""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils import _tls_reload as r

SHOW = """Id=postfix.service
LoadState=loaded
ActiveState=active
ActiveEnterTimestamp=@1000

Id=dovecot.service
LoadState=loaded
ActiveState=inactive
ActiveEnterTimestamp=

Id=radicale.service
LoadState=not-found
ActiveState=inactive
ActiveEnterTimestamp=
"""
UNITS = ["postfix.service", "dovecot.service", "radicale.service"]


def test_units_get_their_suffix_and_default_action():
    assert r.check_services([{"unit": "postfix"}, {"unit": "radicale", "action": "restart"}, {"unit": "x.socket"}]) == [
        {"unit": "postfix.service", "action": "reload"},
        {"unit": "radicale.service", "action": "restart"},
        {"unit": "x.socket", "action": "reload"},
    ]


def test_a_unit_listed_twice_is_acted_on_once():
    assert len(r.check_services([{"unit": "postfix"}, {"unit": "postfix.service"}])) == 1


@pytest.mark.parametrize("entry, message", [
    ({"unit": "post fix"}, "services[0]: unit 'post fix' is not a systemd unit name"),
    ({"unit": ""}, "services[0]: unit '' is not a systemd unit name"),
    ({"unit": "postfix", "action": "kill"}, "services[0] (postfix): action 'kill' must be one of reload, restart"),
])
def test_bad_entries_are_named(entry, message):
    with pytest.raises(r.ServiceError) as err:
        r.check_services([entry])
    assert str(err.value) == message


def test_show_output_is_read_per_unit():
    states = r.parse_show(SHOW, UNITS)
    assert states == {
        "postfix.service": {"loaded": True, "active": True, "since": 1000},
        "dovecot.service": {"loaded": True, "active": False, "since": None},
        "radicale.service": {"loaded": False, "active": False, "since": None},
    }


def test_show_output_that_does_not_fit_the_units_is_an_error():
    with pytest.raises(r.ServiceError):
        r.parse_show(SHOW, UNITS[:2])


def _plan(records, mtime=2000, since=1000, digest="new"):
    services = r.check_services([{"unit": "postfix"}, {"unit": "dovecot"}, {"unit": "radicale", "action": "restart"}])
    states = r.parse_show(SHOW.replace("@1000", "@%d" % since), UNITS)
    return {s["unit"]: (s["do"], s["reason"]) for s in r.plan(services, digest, mtime, states, records)}


def test_a_running_service_with_an_older_certificate_is_reloaded():
    steps = _plan({"postfix.service": "old"})
    assert steps["postfix.service"] == ("reload", "runs with an older certificate")


def test_services_that_do_not_run_are_left_alone():
    steps = _plan({})
    assert steps["dovecot.service"] == (None, "not running (reads the certificate when it starts)")
    assert steps["radicale.service"] == (None, "not installed")


def test_a_service_that_has_the_current_certificate_is_left_alone():
    assert _plan({"postfix.service": "new"})["postfix.service"] == (None, "has the current certificate")


def test_a_service_started_after_the_certificate_only_gets_a_record():
    # First run after the mail role started Postfix: no record yet, but it read the new file.
    assert _plan({}, mtime=999.5, since=1000)["postfix.service"] == ("record", "started after the certificate was written")
    # Restarted by its own role since our last reload: up to date too.
    assert _plan({"postfix.service": "old"}, mtime=999, since=1000)["postfix.service"][0] == "record"


def test_a_service_started_before_the_certificate_without_record_is_reloaded():
    assert _plan({}, mtime=1001, since=1000)["postfix.service"] == ("reload", "started before the certificate was written")


def test_nothing_happens_without_a_certificate():
    assert all(step[0] is None for step in _plan({}, digest=None).values())


def test_restart_services_are_restarted():
    shown = SHOW.replace("LoadState=not-found\nActiveState=inactive", "LoadState=loaded\nActiveState=active")
    services = r.check_services([{"unit": "radicale", "action": "restart"}])
    states = r.parse_show(shown, UNITS)
    assert r.plan(services, "new", 5000, states, {})[0]["do"] == "restart"
