# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic writes of secret-bearing files: attributes kept, links kept, loose modes named."""

from __future__ import annotations

import os
import stat

from ansible_collections.imip.server.plugins.module_utils import _fileio


def test_a_symlink_is_kept_and_its_target_written(tmp_path):
    target = tmp_path / "real" / "gateway.ini"
    target.parent.mkdir()
    target.write_text("old\n")
    os.chmod(target, 0o640)
    link = tmp_path / "gateway.ini"
    link.symlink_to(target)
    written = _fileio.atomic_write(str(link), b"new\n")
    assert written == str(target)
    assert link.is_symlink() and os.readlink(link) == str(target), "the link is kept"
    assert target.read_bytes() == b"new\n", "the target, which others read, holds the new content"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["gateway.ini"], "no temporary file left"


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "pass"
    link.symlink_to(tmp_path / "target")
    _fileio.atomic_write(str(link), b"x")
    assert link.is_symlink() and (tmp_path / "target").read_bytes() == b"x"
    assert stat.S_IMODE(os.stat(tmp_path / "target").st_mode) == 0o600


def test_loose_modes(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    expected = {0o600: None, 0o640: None, 0o644: 0o644, 0o660: 0o660, 0o602: 0o602, 0o400: None, 0o604: 0o604}
    for mode, loose in expected.items():
        os.chmod(path, mode)
        assert _fileio.loose_mode(str(path)) == loose, oct(mode)
    assert _fileio.loose_mode(str(tmp_path / "absent")) is None
    assert _fileio.describe_loose_mode(0o666) == "group-writable and world-writable and world-readable"
    assert _fileio.describe_loose_mode(0o644) == "world-readable"
