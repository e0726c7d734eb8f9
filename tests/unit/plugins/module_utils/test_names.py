# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's one rule per kind of name (module_utils/_names.py), and the guards that keep
the roles from writing such a rule again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.imip.server.plugins.module_utils import _names as n
from ansible_collections.imip.server.plugins.module_utils import _site_facts as sf

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.parametrize("value,good", [
    ("mail", True), ("imip1", True), ("2026-06", True), ("A" * 63, True), ("x", True), ("Mail", True),
    ("", False), ("-mail", False), ("mail-", False), ("ma_il", False), ("a" * 64, False), ("a.b", False),
    ("mail\n", False), (None, False), (7, False),
])
def test_label(value, good):
    assert n.is_label(value) is good


@pytest.mark.parametrize("name,reason", [
    ("example.org", None),
    ("mail.example-site.org", None),
    ("Mail.Example.ORG", None),
    ("xn--bcher-kva.example", None),
    ("example..org", "empty label"),
    ("exa_mple.org", "label 'exa_mple' has a character other than a-z, 0-9 and '-'"),
    ("example", "one label only"),
    ("example.org.", "ends with a dot"),
    ("-example.org", "starts or ends with '-'"),
    ("example.123", "the last label is a number"),
    ("a" * 64 + ".org", "longer than 63 characters"),
    (("a" * 63 + ".") * 4 + "org", "longer than 253 characters"),
    ("example.org\n", "character other than"),
    ("", "empty"),
    (None, "empty"),
])
def test_domain_problem(name, reason):
    problem = n.domain_problem(name)
    if reason is None:
        assert problem is None and n.is_domain(name)
    else:
        assert problem.startswith("not a domain name: ") and reason in problem and not n.is_domain(name)


@pytest.mark.parametrize("value,reason", [
    ("calendar-invites@example.org", None),
    ("Alice.Smith@Example.ORG", None),
    ("a_b-c@x.y.example", None),
    ("calendar+invites@example.org", "the local part 'calendar+invites'"),
    ("a:b@example.org", "the local part 'a:b'"),
    ("trailing.@example.org", "the local part 'trailing.'"),
    ("@example.org", "the local part ''"),
    ("two@@example.org", "the local part 'two@'"),
    ("calendar-invites@example..org", "its domain is not a domain name: empty label"),
    ("nodomain@localhost", "one label only"),
    ("a@example.123", "the last label is a number"),
    ("calendar-invites", "no '@'"),
    (7, "no '@'"),
])
def test_mail_address_problem(value, reason):
    problem = n.mail_address_problem(value)
    assert (problem is None) if reason is None else (reason in problem)
    assert n.is_mail_address(value) is (reason is None)


def test_a_mail_address_of_given_domains():
    assert n.is_mail_address("Alice@Example.ORG", ["example.org", "example.net"])
    assert n.is_mail_address("alice@example.net", ["Example.NET"])
    problem = n.mail_address_problem("alice@other.example", ["example.org"])
    assert problem == "not an address of the site's domains (example.org): other.example"
    # A malformed address says what is wrong with it first.
    assert "local part" in n.mail_address_problem("a+b@example.org", ["example.org"])
    assert not n.is_mail_address("alice@example.org", [])


def test_the_address_predicate_and_the_filter_agree():
    """invalid_mail_addresses (the filter) and mail_address_problem are one rule."""
    samples = ["a@example.org", "A.b_c-d@sub.example.org", "a+b@example.org", "a@example", "a@b..c", "@x.org",
               "a:b@example.org", "a@exa_mple.org", "a@example.123", 7]
    assert sf.invalid_mail_addresses(samples) == [s for s in samples if n.mail_address_problem(s)]


@pytest.mark.parametrize("value,good", [("info", True), ("debug", True), ("INFO", False), ("warning", False),
                                        ("", False), (None, False)])
def test_log_level(value, good):
    assert n.is_log_level(value) is good


@pytest.mark.parametrize("value,address", [
    ("mailto:alice@example.org", "alice@example.org"),
    ("MAILTO:Bob@Ext.Test", "Bob@Ext.Test"),
    ("MailTo:x@y.example", "x@y.example"),
    ("alice@example.org", "alice@example.org"),
    ("mailto:", ""),
    ("", ""),
    (None, ""),
    ("x-mailto:alice@example.org", "x-mailto:alice@example.org"),
])
def test_strip_mailto(value, address):
    assert n.strip_mailto(value) == address


# --- the roles use these rules and write none of their own -------------------------------------

def _role_files():
    for path in sorted((ROOT / "roles").rglob("*")):
        if path.is_file() and path.suffix in (".yml", ".j2"):
            yield path


def test_every_roles_log_level_choices_are_the_python_list():
    """Argument specs are YAML and cannot import LOG_LEVELS: each role lists the same choices."""
    found = {}
    for spec_file in sorted((ROOT / "roles").glob("*/meta/argument_specs.yml")):
        specs = yaml.safe_load(spec_file.read_text(encoding="utf-8"))["argument_specs"]
        for entry, spec in specs.items():
            for name, option in (spec.get("options") or {}).items():
                if name.endswith("_log_level"):
                    found["%s %s %s" % (spec_file.parts[-3], entry, name)] = option.get("choices")
    assert found, "no role has a *_log_level option: the test looks at the wrong place"
    wrong = {key: choices for key, choices in found.items() if choices != list(n.LOG_LEVELS)}
    assert not wrong, "log level choices differ from _names.LOG_LEVELS %s: %s" % (list(n.LOG_LEVELS), wrong)


# Patterns that mean a rule written again in a role: the first character class of a domain label
# (what every label, domain and address regex starts with), a hand-written list of log levels, a
# namespace() loop (a filter says what it does in one name).
COPIES = re.compile(r"\[A-Za-z0-9\]|\[a-z0-9\]|\['info', 'debug'\]|namespace\(")


def test_no_role_writes_a_name_rule_of_its_own():
    offenders = []
    for path in _role_files():
        if path.parts[len(ROOT.parts) + 1] == "backup":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if COPIES.search(line):
                offenders.append("%s:%d: %s" % (path.relative_to(ROOT), number, line.strip()))
    assert not offenders, "use the tests imip.server.domain / mail_address / label / log_level:\n" + "\n".join(offenders)
