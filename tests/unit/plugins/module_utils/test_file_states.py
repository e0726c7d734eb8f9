# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a path is (imip.server.file_states_info) and when imip.server.files may leave it alone
without asking the builtin. Real files in a temporary directory; the whole action is run by
tests/unit/test_files_action.py with the repository's ansible-playbook."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd

import pytest

from ansible_collections.imip.server.plugins.module_utils._file_states import content_checksum, file_state, in_place
from ansible_collections.imip.server.plugins.modules import file_states_info

OWNER = pwd.getpwuid(os.getuid())[0]
GROUP = grp.getgrgid(os.getgid())[0]
TEXT = "# main.cf — written by a role\nmyhostname = cal.example.test\n"


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "main.cf").write_text(TEXT, encoding="utf-8")
    os.chmod(tmp_path / "main.cf", 0o640)
    (tmp_path / "spool").mkdir()
    os.chmod(tmp_path / "spool", 0o2770)
    os.symlink(tmp_path / "main.cf", tmp_path / "link.cf")
    return tmp_path


def test_a_file_is_read_with_the_checksum_ansible_compares(tree):
    state = file_state(str(tree / "main.cf"))
    assert state == {"exists": True, "type": "file", "mode": "0640", "owner": OWNER, "group": GROUP,
                     "checksum": hashlib.sha1(TEXT.encode("utf-8")).hexdigest()}
    assert state["checksum"] == content_checksum(TEXT)


def test_a_directory_keeps_its_setgid_bit_in_the_mode(tree):
    assert file_state(str(tree / "spool")) == {"exists": True, "type": "directory", "mode": "2770",
                                               "owner": OWNER, "group": GROUP}


def test_a_link_is_not_followed_and_a_missing_path_says_so(tree):
    assert file_state(str(tree / "link.cf"))["type"] == "link"
    assert "checksum" not in file_state(str(tree / "link.cf"))
    assert file_state(str(tree / "absent")) == {"exists": False}


def _want(**extra):
    return dict({"checksum": content_checksum(TEXT), "mode": "0640", "owner": OWNER, "group": GROUP}, **extra)


def test_the_same_content_owner_group_and_mode_is_in_place(tree):
    state = file_state(str(tree / "main.cf"))
    assert in_place(_want(), state)
    assert in_place(_want(mode="640"), state)
    assert in_place({"checksum": content_checksum(TEXT)}, state)  # what is not asked is not compared


@pytest.mark.parametrize("change", [
    {"checksum": content_checksum(TEXT + "# drift\n")},
    {"mode": "0644"},
    {"owner": "nobody-else"},
    {"group": "nogroup-else"},
])
def test_any_difference_goes_to_the_builtin(tree, change):
    assert not in_place(_want(**change), file_state(str(tree / "main.cf")))


@pytest.mark.parametrize("mode", ["u=rw,g=r", "preserve", 0o640, "9999"])
def test_a_mode_this_cannot_judge_goes_to_the_builtin(tree, mode):
    assert not in_place(_want(mode=mode), file_state(str(tree / "main.cf")))


def test_a_link_a_directory_or_nothing_where_a_file_belongs_goes_to_the_builtin(tree):
    for name in ("link.cf", "spool", "absent"):
        assert not in_place(_want(), file_state(str(tree / name))), name


def test_a_directory_is_compared_by_type_owner_group_and_mode(tree):
    state = file_state(str(tree / "spool"))
    assert in_place({"type": "directory", "mode": "2770", "owner": OWNER}, state)
    assert not in_place({"type": "directory", "mode": "0770"}, state)
    assert not in_place({"type": "directory"}, file_state(str(tree / "main.cf")))


def test_force_false_leaves_any_existing_path_alone_as_the_template_module_does(tree):
    state = file_state(str(tree / "main.cf"))
    assert in_place(_want(force=False, checksum="0" * 40, mode="0600"), state)
    assert not in_place(_want(force=False), file_state(str(tree / "absent")))


def test_the_module_reads_every_path_in_one_run(run_module, tree):
    paths = [str(tree / "main.cf"), str(tree / "spool"), str(tree / "absent")]
    run = run_module(file_states_info, {"paths": paths}, check=True)
    assert run.result["changed"] is False
    assert run.result["files"][paths[0]]["checksum"] == content_checksum(TEXT)
    assert run.result["files"][paths[1]]["type"] == "directory"
    assert run.result["files"][paths[2]] == {"exists": False}


def test_a_relative_path_is_refused_by_name(run_module):
    run = run_module(file_states_info, {"paths": ["etc/postfix/main.cf"]})
    assert run.result["failed"] is True
    assert "paths: expected absolute paths, got etc/postfix/main.cf" in run.result["msg"]
