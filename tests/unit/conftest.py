"""Make `ansible_collections.imip.server` importable when pytest runs from the repository.

`make collection-link` links the repository to .cache/collections/ansible_collections/imip/server;
ansible-test's own layout already provides the package, so nothing is added there.
"""

import sys
from pathlib import Path

_COLLECTIONS = Path(__file__).resolve().parents[2] / ".cache" / "collections"
try:
    import ansible_collections.imip.server  # noqa: F401  (already importable: ansible-test)
except ImportError:
    if not (_COLLECTIONS / "ansible_collections" / "imip" / "server").exists():
        raise SystemExit("run `make collection-link` first (links the repo under .cache/collections)")
    sys.path.insert(0, str(_COLLECTIONS))
