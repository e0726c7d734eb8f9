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
