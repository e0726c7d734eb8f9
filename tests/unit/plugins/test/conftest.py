# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test plugins' tests use the filter tests' fixtures: the controller-side imports (`ctl`)
and Ansible's own templating with the collection findable by its FQCN (`templar`)."""

from __future__ import annotations

# Fixtures are found by name: pytest uses these imports, pylint cannot see it.
from ..filter.conftest import ctl, templar  # noqa: F401  # pylint: disable=unused-import
