# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The documentation of the parity modules parses, and agrees with their argument specs.

ansible-test sanity (validate-modules) checks this too, but only after a slow run; here a
broken YAML scalar or an undocumented option fails the unit tests at once.
"""

from __future__ import annotations

import yaml

import pytest

from ansible_collections.imip.server.plugins.doc_fragments.parity_stores import ModuleDocFragment
from ansible_collections.imip.server.plugins.module_utils.parity import module as _parity_module
from ansible_collections.imip.server.plugins.modules import dovecot_passwd_file, keychain_item, password_parity, password_parity_info

FRAGMENT = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)


def _descriptions(doc, where=""):
    """Every description in a documentation tree, with where it is."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "description":
                yield "%s.description" % where, value
            else:
                yield from _descriptions(value, "%s.%s" % (where, key))
    elif isinstance(doc, list):
        for item in doc:
            yield from _descriptions(item, where)


@pytest.mark.parametrize("module", [dovecot_passwd_file, keychain_item, password_parity, password_parity_info])
def test_docs_parse_and_every_description_is_text(module):
    for section in ("DOCUMENTATION", "RETURN"):
        doc = yaml.safe_load(getattr(module, section))
        for where, text in _descriptions(doc):
            for line in (text if isinstance(text, list) else [text]):
                assert isinstance(line, str), "%s.%s%s is not text (a ': ' in a plain scalar?)" % (module.__name__, section, where)
    assert yaml.safe_load(module.EXAMPLES)


def test_the_fragments_descriptions_are_text():
    for where, text in _descriptions(FRAGMENT):
        for line in (text if isinstance(text, list) else [text]):
            assert isinstance(line, str), "parity_stores%s is not text (a ': ' in a plain scalar?)" % where


@pytest.mark.parametrize("module, rewrite", [(password_parity, True), (password_parity_info, False)])
def test_parity_docs_match_the_argument_spec(module, rewrite):
    options = dict(yaml.safe_load(module.DOCUMENTATION)["options"], **FRAGMENT["options"])
    spec = _parity_module.argument_spec(rewrite)
    assert sorted(options) == sorted(spec)
    stores = options["stores"]["suboptions"]
    assert sorted(stores) == sorted(spec["stores"]["options"])
    for name, option in spec["stores"]["options"].items():
        assert stores[name]["type"] == option["type"], name
        assert stores[name].get("choices") == option.get("choices"), name
    assert options["insecure_files"]["choices"] == spec["insecure_files"]["choices"]
    assert "groups" not in yaml.safe_load(password_parity.RETURN)
