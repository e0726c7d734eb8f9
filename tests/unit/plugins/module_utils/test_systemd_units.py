# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""imip.server.systemd_services: when a unit may be left alone without
ansible.builtin.systemd_service. The `systemctl show` answer below is a lab host's (Debian 12,
systemd 252), captured with the command the action runs; every Molecule converge, idempotence
and check runs the action itself."""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils._systemd_units import in_place, parse_show, show_command, task_arguments

SHOW = """Id=postfix.service
LoadState=loaded
ActiveState=active
UnitFileState=enabled
NeedDaemonReload=no

Id=opendmarc.service
LoadState=loaded
ActiveState=inactive
UnitFileState=disabled
NeedDaemonReload=no

Id=nosuch.service
LoadState=not-found
ActiveState=inactive
UnitFileState=
NeedDaemonReload=no

Id=systemd-journald.service
LoadState=loaded
ActiveState=active
UnitFileState=static
NeedDaemonReload=no
"""

STARTED = {"enabled": True, "state": "started"}


def units():
    return dict(zip(["postfix", "opendmarc", "nosuch", "journald"], parse_show(SHOW)))


def test_the_answer_is_read_unit_by_unit_in_the_order_asked():
    parsed = parse_show(SHOW)
    assert [unit["Id"] for unit in parsed] == ["postfix.service", "opendmarc.service", "nosuch.service",
                                               "systemd-journald.service"]
    assert parsed[2]["UnitFileState"] == ""


def test_an_enabled_running_unit_is_left_alone():
    assert in_place(STARTED, units()["postfix"])
    assert in_place({"enabled": True}, units()["postfix"])
    assert in_place({"state": "started"}, units()["postfix"])


def test_a_disabled_stopped_unit_is_left_alone_when_that_is_asked():
    assert in_place({"enabled": False, "state": "stopped"}, units()["opendmarc"])
    assert in_place({"state": "stopped"}, dict(units()["opendmarc"], ActiveState="failed"))


@pytest.mark.parametrize("change", [
    {"ActiveState": "inactive"}, {"ActiveState": "activating"}, {"UnitFileState": "disabled"},
    {"UnitFileState": "masked"}, {"NeedDaemonReload": "yes"}, {"LoadState": "not-found"},
])
def test_anything_else_goes_to_the_builtin(change):
    assert not in_place(STARTED, dict(units()["postfix"], **change))


def test_units_this_cannot_judge_go_to_the_builtin():
    assert not in_place(STARTED, units()["nosuch"])
    assert not in_place({"enabled": True}, units()["journald"])  # static: the builtin says what enabling means
    assert not in_place(STARTED, {})  # systemctl's answer could not be read


def test_the_command_quotes_every_name_and_asks_for_the_properties_read():
    assert show_command(["postfix", "foo\\x2dbar.service"]) == (
        "systemctl show --property=Id,LoadState,ActiveState,UnitFileState,NeedDaemonReload -- postfix 'foo\\x2dbar.service'")


def test_the_arguments_of_a_task():
    assert task_arguments({"name": "postfix", "enabled": True, "state": "started"}) == (["postfix"], STARTED)
    assert task_arguments({"name": ["a", "b"], "enabled": False}) == (["a", "b"], {"enabled": False})
    assert task_arguments({"name": [], "state": "started"}) == ([], {"state": "started"})


@pytest.mark.parametrize("args, message", [
    ({"name": "post fix", "state": "started"}, "name: expected a unit name or a list of unit names, got 'post fix'"),
    ({"name": "postfix;reboot", "state": "started"}, "name: expected a unit name"),
    ({"name": "postfix", "state": "restarted"}, "state: expected one of started, stopped, got 'restarted'"),
    ({"name": "postfix", "enabled": "yes"}, "enabled: expected true or false, got 'yes'"),
    ({"name": "postfix"}, "expected enabled or state (or both): the task asks nothing of postfix"),
])
def test_bad_arguments_are_refused_by_name(args, message):
    with pytest.raises(ValueError) as error:
        task_arguments(args)
    assert message in str(error.value)
