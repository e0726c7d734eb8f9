# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures of the filter tests: the controller-side imports (`ctl`) and Ansible's own
templating with the collection findable by its FQCN (`templar`)."""

from __future__ import annotations

import os
import sys
import types

import pytest


@pytest.fixture(scope="module", autouse=True)
def ctl():
    """The controller-side imports, for one test module's tests only.

    Importing ansible-core's controller code (ansible.errors, ansible.template) switches
    module_utils into controller mode for the whole process: modules' warnings then go to the
    display instead of their result. ansible-test runs controller and module unit tests in
    separate processes for that reason; plain pytest runs them in one, so the switch is undone
    when this module's tests are done.
    """
    from ansible.module_utils import _internal
    was = _internal.is_controller
    from ansible.errors import AnsibleFilterError
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
    from ansible.utils.collection_loader import AnsibleCollectionConfig
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
    import ansible_collections.imip.server as collection
    from ansible_collections.imip.server.plugins.filter import dns_zone, firewall
    yield types.SimpleNamespace(
        AnsibleFilterError=AnsibleFilterError, DataLoader=DataLoader, Templar=Templar,
        trust_as_template=trust_as_template, AnsibleCollectionConfig=AnsibleCollectionConfig,
        AnsibleCollectionFinder=_AnsibleCollectionFinder, collection=collection, dns_zone=dns_zone, firewall=firewall)
    _internal.is_controller = was


@pytest.fixture(scope="module")
def templar(ctl):
    """Ansible's templating with the collection findable by its FQCN (as ansible-playbook has it)."""
    own = ctl.AnsibleCollectionConfig.collection_finder is None
    if own:
        # Plain pytest (under ansible-test the finder is installed already): the collection was
        # imported as a plain namespace package, which the plugin loader does not recognise, so
        # the finder imports it afresh; the modules of the other tests come back afterwards.
        path = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(ctl.collection.__path__[0]))))
        saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "ansible_collections"}
        for name in saved:
            del sys.modules[name]
        ctl.AnsibleCollectionFinder(paths=[path])._install()

    def render(expression, variables):
        return ctl.Templar(loader=ctl.DataLoader(), variables=variables).template(ctl.trust_as_template(expression))

    yield render
    if own:
        ctl.AnsibleCollectionFinder._remove()
        for name in [name for name in sys.modules if name.split(".")[0] == "ansible_collections"]:
            del sys.modules[name]
        sys.modules.update(saved)
