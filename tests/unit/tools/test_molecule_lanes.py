"""tools/molecule-lanes: what it reports when a scenario fails (CI shows only the end of the output)."""

import os
import subprocess
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
LANES = ROOT / "tools" / "molecule-lanes"


def load_lanes():
    loader = SourceFileLoader("molecule_lanes", str(LANES))
    module = module_from_spec(spec_from_loader("molecule_lanes", loader))
    loader.exec_module(module)
    return module


# The shape of a Molecule log whose side effect failed: an expected failure that a rescue caught,
# the failure, then the destroy step's forty lines that used to be all CI showed.
FAILED_LOG = [
    "INFO     [tls > side_effect] Executing",
    "TASK [imip.server.tls : Fail, saying what the CA or the challenge needed] ***",
    "fatal: [cal]: FAILED! =>",
    "    msg: 'DNS-01 on cal: the name server did not take the update'",
    "TASK [The error names the key and the record] ***",
    "ok: [cal]",
    "TASK [Read the serial again] ***",
    "ok: [cal]",
    "TASK [Pebble served no request and the certificate is the same] ***",
    'fatal: [cal]: FAILED! => {"assertion": "__after == __before", "msg": "pebble was asked"}',
    "PLAY RECAP ***",
    "cal                        : ok=7    changed=0    unreachable=0    failed=1    skipped=0",
    "INFO     [tls > destroy] Executing",
] + [f"TASK [destroy step {n}] ***" for n in range(60)]


def test_the_excerpt_names_the_failed_task_and_its_result():
    excerpt = load_lanes().failure_excerpt(FAILED_LOG)
    assert excerpt[0] == "TASK [Pebble served no request and the certificate is the same] ***"
    assert excerpt[1].startswith("fatal: [cal]: FAILED!") and "pebble was asked" in excerpt[1]
    assert excerpt[-1].startswith("cal ") and "failed=1" in excerpt[-1]
    assert not any("DNS-01" in line or "destroy step" in line for line in excerpt)


def test_the_excerpt_keeps_pytests_reasons():
    lines = ["INFO     [tls > verify] Executing", "E   AssertionError: port 993 presents the old certificate",
             "FAILED tests/test_tls.py::test_mail_endpoints_verify_from_the_internet[993-] - AssertionError"]
    assert load_lanes().failure_excerpt(lines) == lines[1:]


def test_a_log_without_a_failure_line_gives_no_excerpt():
    assert load_lanes().failure_excerpt(["TASK [a] ***", "fatal: [cal]: FAILED! => ...", "...ignoring",
                                         "cal : ok=1 changed=0 unreachable=0 failed=0"]) == []


def test_a_lane_without_molecule_reports_the_scenario_failed(tmp_path):
    env = dict(os.environ, PATH="/usr/bin:/bin", IMIP_TEST_LOGS=str(tmp_path), IMIP_TEST_JOBS="1",
               IMIP_TEST_NETS="50")
    proc = subprocess.run([str(LANES), "firewall"], capture_output=True, text=True, env=env, check=False,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 1
    assert "== molecule-firewall" in proc.stdout and "FAILED" in proc.stdout
    assert "cannot run molecule" in (tmp_path / "molecule-firewall.why").read_text()
    assert (tmp_path / "molecule-results").read_text() == "molecule-firewall FAILED\n"
