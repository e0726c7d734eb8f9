# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The inventory checked before site.yml changes anything (private; the filter imip.server.site_problems).

For each host: the site-wide facts, each by its one predicate (_names, _site_facts), and every
variable the inventory sets for a role the host runs, against that role's argument spec
(meta/argument_specs.yml) with Ansible's own validator. Each problem is one line naming the
variable the user wrote; secret values (no_log options) are never shown.

Only what the inventory sets is checked: the roles' defaults are templates over other variables,
evaluated when the role runs (its own argument spec and validate tasks check them again there).
"""

from __future__ import annotations

import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.imip.server.plugins.module_utils import _names, _site_facts

# The roles each host runs, by the group(s) its playbook targets (playbooks/<role>.yml `hosts:`);
# None: every host that is not in the vantage group; a tuple: a host in any of those groups. A
# unit test compares this with the playbooks.
ROLE_GROUPS = {
    "site_facts": None,
    "firewall": None,
    "tls": None,
    "dns": "dns_servers",
    "mail": "mail_servers",
    "invitation_account": "mail_servers",
    "calendar": "calendar_servers",
    "imip_gateway": "calendar_servers",
    "backup": ("calendar_servers", "mail_servers"),
}
OUTSIDE_GROUP = "vantage"

# The site-wide facts and the rule each follows; checked when set (imip_domain is required).
FACTS = (
    ("imip_domain", _names.domain_problem),
    ("imip_host_fqdn", _names.domain_problem),
    ("imip_host_ipv4", _site_facts.ipv4_problem),
    ("imip_public_ipv4", _site_facts.ipv4_problem),
    ("imip_invitation_address", _names.mail_address_problem),
)
NETWORK_LISTS = ("imip_firewall_admin_sources",)
# A variable the inventory does not set.
_MISSING = object()
# Ansible's documentation markup, C(value) or O(option), shown as its plain text.
_MARKUP = re.compile(r"\b[A-Z]\(([^()]*)\)")

# Keys of an argument spec option that Ansible's validator reads. A role's `default` is left
# out: the validator would apply it, and a templated default is not a value yet.
_VALIDATOR_KEYS = ("type", "elements", "choices", "required", "no_log", "aliases", "options",
                   "mutually_exclusive", "required_together", "required_one_of", "required_if")


def validator_spec(options, top=True):
    """A role's argument spec options, reduced to what ArgumentSpecValidator checks. A missing
    top-level variable is reported by host_problems with its description, not here."""
    spec = {}
    for name, option in (options or {}).items():
        reduced = {key: option[key] for key in _VALIDATOR_KEYS
                   if key in option and key != "options" and not (top and key == "required")}
        if option.get("options"):
            reduced["options"] = validator_spec(option["options"], top=False)
        spec[name] = reduced
    return spec


_TYPE_ERROR = re.compile(r"^argument '([^']+)' is of type \S+ and we were unable to convert to (\w+)")


def _plain(message, provided, options):
    """The validator's wording for a wrong type, said as the other problems are: the variable first."""
    match = _TYPE_ERROR.match(message)
    if not match or match.group(1) not in provided:
        return message
    name, wanted = match.groups()
    value = "(secret)" if options.get(name, {}).get("no_log") else _shown(provided[name])
    return "%s: %s is not a %s" % (name, value, {"int": "whole number", "bool": "boolean (true or false)"}.get(wanted, wanted))


def _first_sentence(option):
    description = option.get("description") or ""
    text = " ".join(description if isinstance(description, list) else [description])
    text = _MARKUP.sub(r"\1", " ".join(text.split()))
    return text.split(". ")[0].rstrip(".")


def roles_of(group_names):
    """The roles a host in these groups runs (empty for a host of the vantage group only)."""
    groups = set(group_names)
    if OUTSIDE_GROUP in groups:
        return []
    return [role for role, group in ROLE_GROUPS.items()
            if group is None or groups & set(group if isinstance(group, tuple) else (group,))]


def _shown(value):
    text = repr(value) if not isinstance(value, str) else "'%s'" % value
    return text if len(text) <= 80 else text[:77] + "..."


def host_problems(variables, group_names, specs):
    """One line per problem of one host.

    variables: the variables the inventory sets for the host, templated; group_names: its groups;
    specs: role name -> the `argument_specs` mapping of that role's meta/argument_specs.yml.
    """
    roles = roles_of(group_names)
    if not roles:
        return []
    checked = set()
    problems = _fact_problems(variables, checked) + _network_problems(variables, checked)
    for role in roles:
        problems += _role_problems(role, specs, variables, checked)
    return _unique(problems)


def _fact_problems(variables, checked):
    """The cross-role facts (imip_domain, the addresses); checked collects the names looked at."""
    problems = []
    for name, problem_of in FACTS:
        if name == "imip_domain" and name not in variables:
            problems.append("imip_domain is required: the site's mail and calendar domain, e.g. example.org")
            continue
        value = variables.get(name, _MISSING)
        if value is _MISSING or value is None or (name == "imip_public_ipv4" and value == ""):
            continue
        checked.add(name)
        reason = problem_of(value)
        if reason:
            problems.append("%s: %s is %s" % (name, _shown(value), reason))
    return problems


def _network_problems(variables, checked):
    """Each item of the lists of addresses or networks, by its index."""
    problems = []
    for name in NETWORK_LISTS:
        value = variables.get(name, _MISSING)
        if isinstance(value, (list, tuple)):
            checked.add(name)
            for index, item in enumerate(value):
                reason = _site_facts.network_problem(item)
                if reason:
                    problems.append("%s[%d]: %s %s" % (name, index, _shown(item), reason))
    return problems


def _role_problems(role, specs, variables, checked):
    """What the role's argument spec refuses (required options missing, wrong types or choices),
    except for the variables checked above."""
    problems = []
    options = ((specs.get(role) or {}).get("main") or {}).get("options") or {}
    for name, option in options.items():
        if option.get("required") and name != "imip_domain" and name not in variables:
            problems.append("%s is required (role %s): %s" % (name, role, _first_sentence(option)))
    spec = validator_spec(options)
    provided = {}
    for name in spec:
        value = variables.get(name, _MISSING)
        if value is not _MISSING and name not in checked:
            provided[name] = value
    result = ArgumentSpecValidator(spec).validate(provided)
    return problems + [_plain(" ".join(str(error).split()), provided, options) for error in result.errors]


def _unique(items):
    seen = set()
    return [item for item in items if not (item in seen or seen.add(item))]
