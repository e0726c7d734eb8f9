"""Make `ansible_collections.imip.server` importable when pytest runs from the repository.

`make collection-link` links the repository to .cache/collections/ansible_collections/imip/server;
under ansible-test the package is importable already and nothing is added.
"""

import importlib.util
import sys
from pathlib import Path

_COLLECTIONS = Path(__file__).resolve().parents[2] / ".cache" / "collections"


def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


if not _importable("ansible_collections.imip.server"):
    if not (_COLLECTIONS / "ansible_collections" / "imip" / "server").exists():
        raise SystemExit("run `make collection-link` first (links the repo under .cache/collections)")
    sys.path.insert(0, str(_COLLECTIONS))


def pytest_configure(config):
    # Tests that run the repository's own ansible-playbook (.venv/bin) on a playbook: they test the
    # playbooks, not the interpreter pytest runs in, so the compat stage (another ansible-core in its
    # own venv) deselects them instead of running them a second time with the same .venv.
    config.addinivalue_line("markers", "repository_ansible: runs the repository's .venv/bin/ansible-* tools")
