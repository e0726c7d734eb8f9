"""Every role's meta/argument_specs.yml agrees with its defaults/main.yml (docs/conventions.md, rule 2):
each default is a documented option with the same default, and no documented default is missing.
A default computed by Jinja for an option that is not a string (a bool, an int, a list, a dict) is
described in words instead: the documentation schema (antsibull-docs, ansible-doc's consumers)
requires a default of the option's own type."""

from pathlib import Path

import pytest
import yaml

ROLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "roles").iterdir() if (p / "meta").is_dir())


def load(path):
    return yaml.safe_load(path.read_text()) if path.exists() else {}


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_argument_specs_match_defaults(role):
    specs = load(role / "meta" / "argument_specs.yml")
    assert specs and "main" in specs["argument_specs"], f"{role.name}: meta/argument_specs.yml has no main entry point"
    options = specs["argument_specs"]["main"].get("options") or {}
    defaults = load(role / "defaults" / "main.yml") or {}

    undocumented = sorted(set(defaults) - set(options))
    assert not undocumented, f"{role.name}: defaults without an argument spec: {undocumented}"
    for name, spec in options.items():
        assert spec.get("description"), f"{role.name}: option {name} has no description"
        computed = isinstance(defaults.get(name), str) and "{{" in defaults[name]
        if computed and spec.get("type", "str") not in ("str", "path", "raw"):
            assert "default" not in spec, (
                f"{role.name}: {name} is a {spec['type']} whose spec default is a Jinja string; describe it in words")
            words = " ".join(spec["description"] if isinstance(spec["description"], list) else [spec["description"]])
            assert "default" in words.lower(), f"{role.name}: {name}'s description does not say what the default is"
        elif "default" in spec:
            assert name in defaults, f"{role.name}: {name} documents a default that defaults/main.yml lacks"
            assert spec["default"] == defaults[name], (
                f"{role.name}: {name} defaults to {defaults[name]!r} but the spec says {spec['default']!r}"
            )
        elif name in defaults:
            pytest.fail(f"{role.name}: {name} has a default in defaults/main.yml but none in the spec")
