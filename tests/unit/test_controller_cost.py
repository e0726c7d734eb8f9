"""What keeps a run's controller CPU down (docs/performance.md, "Where the time goes").

Ansible forks a worker per task and host, and a worker loads every filter file of the collection
to resolve one imip.server filter name; it inherits what the main process loaded before the fork.
"""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FILTER_FILES = sorted(p.stem for p in (ROOT / "plugins" / "filter").glob("*.py"))


def test_loading_the_filter_files_imports_no_helper():
    # A fresh interpreter, as a worker is for this collection's files.
    code = (
        "import sys\n"
        "import ansible.errors, ansible.module_utils.common.text.converters\n"
        "before = set(sys.modules)\n"
        f"for name in {FILTER_FILES!r}:\n"
        "    __import__('ansible_collections.imip.server.plugins.filter.' + name)\n"
        "print('\\n'.join(sorted(m for m in set(sys.modules) - before if 'module_utils' in m or 'cryptography' in m)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT, env={"PYTHONPATH": ":".join(sys.path)})
    assert proc.stdout.strip() == "", "filter files import at load time:\n" + proc.stdout


def test_a_filter_still_finds_its_helper_when_it_runs():
    from ansible_collections.imip.server.plugins.filter import site_facts, tls

    assert site_facts.host_fqdn("cal", {"cal": {"imip_domain": "example.org"}}) == "cal.example.org"
    assert tls.tls_renewal("", ["cal.example.org"], 30)["due"] is True


def first_play(path):
    plays = yaml.safe_load(path.read_text())
    return next(play for play in plays if "hosts" in play)


def test_each_playbooks_first_play_loads_the_filters_in_the_main_process():
    playbooks = [p for p in sorted((ROOT / "playbooks").glob("*.yml")) if p.name != "site.yml"]
    assert playbooks
    plain = [p.name for p in playbooks if "|" not in first_play(p)["name"]]
    assert not plain, f"first plays whose name uses no filter (workers would load them each): {plain}"
