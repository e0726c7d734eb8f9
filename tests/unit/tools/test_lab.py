"""The lab tool's refusals, against the real host: no fakes (the conditions are made for real)."""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LAB = ROOT / "tools" / "lab" / "lab"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the lab tool runs as root")


def run_lab(*args, user=None, lab=LAB):
    cmd = [str(lab), *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]  # uid = gid = 65534 (nobody)
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)


@needs_root
def test_refuses_to_run_without_root():
    # A copy nobody can read wherever the checkout is (a clone in a 0700 directory is not); the
    # tool checks for root before it reads anything beside itself.
    where = Path(tempfile.mkdtemp(prefix="imip-lab-tool-"))
    try:
        where.chmod(0o755)
        lab = where / "lab"
        shutil.copy2(LAB, lab)
        lab.chmod(0o755)
        proc = run_lab("images", user=65534, lab=lab)
    finally:
        shutil.rmtree(where)
    assert proc.returncode == 1
    assert "needs root" in proc.stderr


@needs_root
@pytest.mark.skipif(not shutil.which("podman"), reason="make system-deps installs podman")
def test_refuses_a_range_that_overlaps_a_host_route(tmp_path):
    """A host route inside the lab's range is named, and nothing is created."""
    taken = "198.18.250.64/26"
    subprocess.run(["ip", "route", "add", taken, "dev", "lo"], check=True)
    try:
        topology = {
            "name": "unit-overlap",
            "range": "198.18.250.0/24",
            "networks": {"outside": "198.18.250.0/25"},
            "state_dir": str(tmp_path),
            "hosts": {},
        }
        (tmp_path / "topology.json").write_text(json.dumps(topology))
        proc = run_lab("prepare", str(tmp_path / "topology.json"))
        assert proc.returncode == 1
        assert "overlaps the host route" in proc.stderr
        assert taken in proc.stderr
        nets = subprocess.run(["podman", "network", "ls", "--format", "{{.Name}}"],
                              capture_output=True, text=True, check=True).stdout.split()
        assert "imip-unit-overlap-outside" not in nets
    finally:
        subprocess.run(["ip", "route", "del", taken, "dev", "lo"], check=False)


def test_subnet_outside_the_range_is_refused(tmp_path):
    topology = {
        "name": "unit-range",
        "range": "198.18.251.0/24",
        "networks": {"outside": "198.18.252.0/25"},
        "state_dir": str(tmp_path),
        "hosts": {},
    }
    (tmp_path / "topology.json").write_text(json.dumps(topology))
    proc = run_lab("prepare", str(tmp_path / "topology.json"))
    assert proc.returncode == 1
    assert "198.18.252.0/25 is not inside imip_lab_range 198.18.251.0/24" in proc.stderr
