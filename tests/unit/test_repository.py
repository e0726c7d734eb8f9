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


def test_no_file_cites_a_document_outside_the_repository():
    offenders = []
    for path in repository_files():
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            found = OUTSIDE_DOCUMENTS.search(line)
            if found:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {found.group(0)}")
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
