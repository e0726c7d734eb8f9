"""The packaging files agree with each other: the example execution environment, the collection
requirements, galaxy.yml and the pinned Python requirements name the same versions, and the
controller's runtime requirements hold nothing that only tests need."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def load(name):
    return yaml.safe_load((ROOT / name).read_text())


def pins(name):
    """{package: version} for the lines of a requirements file that apply on Python >= 3.12."""
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^;\s]+)\s*(?:;\s*(.*))?$", line)
        if match and (not match.group(3) or ">=" in match.group(3)):
            found[match.group(1).lower()] = match.group(2)
    return found


def test_runtime_requirements_are_only_what_runs_on_the_controller():
    runtime = pins("requirements.txt")
    assert set(runtime) == {"ansible-core", "ansible", "cryptography"}
    dev_lines = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in dev_lines, "requirements-dev.txt must include the runtime requirements"
    assert not set(runtime) & set(pins("requirements-dev.txt")), "a package is pinned in both files"


def test_execution_environment_pins_match_the_requirements():
    ee = load("execution-environment.yml")
    deps = ee["dependencies"]
    assert deps["ansible_core"]["package_pip"] == f"ansible-core=={pins('requirements.txt')['ansible-core']}"
    assert deps["ansible_runner"]["package_pip"] == f"ansible-runner=={pins('requirements-dev.txt')['ansible-runner']}"
    collections = {c["name"]: str(c["version"]) for c in deps["galaxy"]["collections"]}
    galaxy = load("galaxy.yml")
    assert collections.pop("imip.server") == galaxy["version"]
    assert collections == {c["name"]: str(c["version"]) for c in load("requirements.yml")["collections"]}


def test_collection_requirements_cover_the_declared_dependencies():
    galaxy = load("galaxy.yml")
    required = {c["name"] for c in load("requirements.yml")["collections"]}
    assert set(galaxy["dependencies"]) == required
    for key in ("repository", "documentation", "issues"):
        assert galaxy.get(key, "").startswith("https://"), f"galaxy.yml lacks {key}"
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert galaxy["license"] == ["GPL-3.0-or-later"]


def test_meta_execution_environment_points_at_the_runtime_files():
    meta = load("meta/execution-environment.yml")
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    assert (ROOT / "bindep.txt").is_file()
