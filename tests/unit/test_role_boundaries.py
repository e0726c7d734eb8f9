"""Each fact is defined once, and a role reads only its own variables and the site's facts.

A variable is "a role's" when that role's defaults/main.yml or vars/main.yml defines it. The facts
more than one role reads live in imip.server.site_facts (roles/site_facts/defaults/main.yml); every
role that reads one depends on that role. So:

- no variable is defined by two roles (site_facts counted as one of them);
- no role's tasks, handlers, templates, defaults, vars or argument spec option names read a
  variable that another role (not site_facts) defines;
- no playbook of the collection restates a site fact's default (`imip_x | default(...)`), since the
  plays that read one run imip.server.site_facts.

Comments are not reading: YAML is parsed and only its keys and string values are searched, templates
only inside `{{ }}` and `{% %}`. Argument specs count only their option names and defaults, since
descriptions name other roles' variables to explain where a value comes from.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta").is_dir())
VARIABLE = re.compile(r"\bimip_[a-z0-9_]+")
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


def load(path):
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def defined_by(role):
    """The variables a role defines (its defaults and vars)."""
    return set(load(ROOT / "roles" / role / "defaults" / "main.yml")) | set(load(ROOT / "roles" / role / "vars" / "main.yml"))


OWNERS = {}
for _role in ROLES:
    for _name in defined_by(_role):
        OWNERS.setdefault(_name, set()).add(_role)
SITE_FACTS = defined_by("site_facts")


def strings(node):
    """Every key and string value of parsed YAML (task names and Jinja included, comments not)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


def read_in_role(role):
    """{variable: [file, ...]} of the imip_* names a role's own files read."""
    base = ROOT / "roles" / role
    reads = {}

    def note(text, path):
        for name in set(VARIABLE.findall(text)):
            reads.setdefault(name, []).append(str(path.relative_to(ROOT)))

    for path in sorted(base.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(base).parts
        if relative[0] == "templates" or path.suffix == ".j2":
            for expression in JINJA.findall(path.read_text()):
                note(expression, path)
        elif relative[:2] == ("meta", "argument_specs.yml"):
            for entry in load(path)["argument_specs"].values():
                for option, spec in (entry.get("options") or {}).items():
                    note(option + " " + str(spec.get("default", "")), path)
        elif relative[0] in ("tasks", "handlers", "defaults", "vars") and path.suffix in (".yml", ".yaml"):
            for text in strings(load(path)):
                note(text, path)
    return reads


def test_no_variable_is_defined_by_two_roles():
    twice = {name: sorted(roles) for name, roles in OWNERS.items() if len(roles) > 1}
    assert not twice, f"defined by more than one role (define a shared fact once, in site_facts): {twice}"


@pytest.mark.parametrize("role", [r for r in ROLES if r != "site_facts"])
def test_a_role_reads_no_other_roles_variable(role):
    foreign = {}
    for name, files in read_in_role(role).items():
        owners = OWNERS.get(name, set()) - {role, "site_facts"}
        if owners and name not in defined_by(role):
            foreign[name] = (sorted(owners), sorted(set(files)))
    assert not foreign, (
        f"{role} reads variables of other roles (move the fact to roles/site_facts/defaults/main.yml): {foreign}")


def test_the_roles_that_read_a_site_fact_depend_on_site_facts():
    missing = []
    for role in ROLES:
        if role == "site_facts":
            continue
        read = set(read_in_role(role)) & SITE_FACTS
        dependencies = [d["role"] if isinstance(d, dict) else d
                        for d in (load(ROOT / "roles" / role / "meta" / "main.yml").get("dependencies") or [])]
        if read and "imip.server.site_facts" not in dependencies:
            missing.append((role, sorted(read)))
    assert not missing, f"roles that read site facts without depending on imip.server.site_facts: {missing}"


@pytest.mark.parametrize("playbook", sorted((ROOT / "playbooks").glob("*.yml")), ids=lambda p: p.name)
def test_no_playbook_restates_a_site_facts_default(playbook):
    restated = []
    for text in strings(load(playbook) if playbook.read_text().strip() else []):
        for name in re.findall(r"\b(imip_[a-z0-9_]+)\s*\|\s*default\(", text):
            if name in SITE_FACTS:
                restated.append(name)
    assert not restated, f"{playbook.name} restates the default of the site facts {sorted(set(restated))}"


def test_the_check_finds_what_it_is_meant_to_find():
    """The reader sees a Jinja read in a template and a task, and ignores a comment."""
    assert "imip_calendar_hook_spool_dir" in read_in_role("imip_gateway")
    assert "imip_calendar_venv" in read_in_role("imip_gateway")
    assert "imip_mail_password_scheme" not in read_in_role("invitation_account"), "a comment is not a read"
