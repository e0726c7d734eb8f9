"""The repository stands on its own: no file cites a document that is not in it, and every
relative link in the Markdown files points at a file that exists.

A reader of the published collection (or of a fresh clone) has only what is in the repository;
a comment that points at the team's working notes sends them nowhere. (This file names those
documents in its pattern, so it does not scan itself.)
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

# Documents that live beside the repository (the team's working notes), never in it.
OUTSIDE_DOCUMENTS = re.compile(
    r"STYLE\.md|DESIGN\.md|lab-machine\.md|imip-gateway\.md|CONTRACTS\.md|PREAMBLE\.md"
    r"|\.\./shared/|shared/notes/|/work/(?:shared|coord|main)\b"
)
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def repository_files():
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        path = ROOT / name
        if path.is_file() and path.name != "LICENSE" and path != Path(__file__).resolve():
            yield path


def text_of(path):
    data = path.read_bytes()
    return None if b"\0" in data[:4096] else data.decode("utf-8", errors="replace")


def lines_matching(pattern):
    """'path:line: match' for every line of every text file of the repository that pattern finds."""
    found = []
    for path in repository_files():
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = pattern.search(line)
            if match:
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)}")
    return found


def test_no_file_cites_a_document_outside_the_repository():
    offenders = lines_matching(OUTSIDE_DOCUMENTS)
    assert not offenders, "files citing documents that are not in the repository:\n" + "\n".join(offenders)


MARKDOWN_FILES = sorted(p for p in repository_files() if p.suffix == ".md")


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=[str(p.relative_to(ROOT)) for p in MARKDOWN_FILES])
def test_markdown_links_point_at_files_in_the_repository(path):
    broken = []
    for target in MARKDOWN_LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same file
        file_part = target.split("#", 1)[0]
        if not (path.parent / file_part).resolve().exists():
            broken.append(target)
    assert not broken, f"{path.relative_to(ROOT)} links to files that do not exist: {broken}"


# Internal material a reader of the published collection cannot see: the team's issue numbers,
# the numbered requirements of its design notes, its lab notes and reports. An upstream issue is
# cited by its address (https://github.com/<project>/issues/<n>), which this does not match.
INTERNAL_CITATIONS = re.compile(
    r"\b[Ii]ssues? #?\d+|\brequirements? \d+|design notes|lab notes|packaging report|\bthe seed\b"
)


def test_no_file_cites_internal_material():
    offenders = lines_matching(INTERNAL_CITATIONS)
    assert not offenders, "files citing material a reader cannot see:\n" + "\n".join(offenders)


DOCS = sorted([ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("roles/*/README.md"),
               *ROOT.glob("roles/*/meta/argument_specs.yml")])
# A path of the repository named in backticks (Markdown) or C() (ansible-doc markup):
# `roles/tls/defaults/main.yml`, C(docs/site.md). Directories the tools make (.lab, .cache) are
# named before they exist.
NAMED_PATH = re.compile(
    r"(?:`|C\()((?:roles|docs|playbooks|plugins|tools|molecule|inventories|gateway|tests)/[^`)\s<>*{}$]*)[`)]")
GENERATED = re.compile(r"(^|/)\.(lab|cache)(/|$)")
# A collection content name: `imip.server.tls`, `imip.server.site`.
NAMED_CONTENT = re.compile(r"`imip\.server\.([a-z_]+)")


def collection_content():
    names = {p.name for p in (ROOT / "roles").iterdir() if p.is_dir()}
    names |= {p.stem for p in (ROOT / "playbooks").glob("*.yml")}
    names |= {p.stem for p in (ROOT / "plugins" / "modules").glob("*.py")}
    for filters in (ROOT / "plugins" / "filter").glob("*.yml"):
        names.add(filters.stem)  # one documentation file per filter
    return names


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_docs_name_only_paths_and_content_that_exist(path):
    text = path.read_text(encoding="utf-8")
    missing = [name for name in NAMED_PATH.findall(text)
               if not GENERATED.search(name) and not (ROOT / name.rstrip("/.,:")).exists()]
    content = collection_content()
    missing += [f"imip.server.{name}" for name in NAMED_CONTENT.findall(text) if name not in content]
    assert not missing, f"{path.relative_to(ROOT)} names what does not exist: {sorted(set(missing))}"


ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_a_readme_that_points_to_its_documentation(role):
    """A reader who opens roles/<role>/ finds what the role is (the argument spec's own short
    description, so the two cannot drift apart), the ansible-doc command and the component doc."""
    readme = ROOT / "roles" / role / "README.md"
    assert readme.is_file(), f"roles/{role}/README.md is missing"
    text = readme.read_text(encoding="utf-8")
    spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    short = " ".join(spec["argument_specs"]["main"]["short_description"].split())
    assert text.splitlines()[:3] == [f"# imip.server.{role}", "", short + "."]
    assert f"`ansible-doc -t role imip.server.{role}`" in text
    assert re.search(r"\]\(\.\./\.\./docs/[a-z_]+\.md\)", text), "no link to the component's doc in docs/"


def test_changelog_sources_use_rst_markup():
    """antsibull-changelog renders fragments as reStructuredText: Ansible's C(...) or M(...) would
    show as raw text in CHANGELOG.md; inline code is written ``...``."""
    sources = [*ROOT.glob("changelogs/fragments/*.yml"), ROOT / "changelogs" / "changelog.yaml"]
    offenders = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}" for path in sources
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"\b[CMOVP]\(", line)]
    assert not offenders, "Ansible markup in changelog sources:\n" + "\n".join(offenders)


def test_the_readme_layout_table_names_every_top_level_folder():
    """A newcomer finds any folder from the README: its Layout table names each top-level folder
    of the repository (and each folder of plugins/) as a path in backticks."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([^`]+)`", layout))
    folders = {path.relative_to(ROOT).parts[0] for path in repository_files() if len(path.relative_to(ROOT).parts) > 1}
    folders |= {"plugins/" + path.relative_to(ROOT).parts[1] for path in repository_files()
                if path.relative_to(ROOT).parts[0] == "plugins" and len(path.relative_to(ROOT).parts) > 2}
    missing = sorted(f for f in folders if not any(n.rstrip("/") == f or n.startswith(f + "/") for n in named))
    assert not missing, "README.md's Layout table does not name: %s" % ", ".join(missing)
