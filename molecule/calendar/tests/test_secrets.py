"""Last: nothing the scenario can see contains a test password, the backup repository's password,
or a line of a DKIM private key or of the backup's SSH key - the journals of both hosts (Radicale
and the gateway at debug level, Postfix, Dovecot), the invitations received on ext, the gateway's
configuration, status and unit environment, the backup's settings and stamp, the process list,
and the runs that side_effect captured (the backup's converge and restore among them)."""

import os
from pathlib import Path

import pytest
from calendar_helpers import PASSWORDS, SCENARIO, SITE_VARS, init_vault
from imip_lab_client import gateway_status


@pytest.fixture(scope="module")
def secrets(lab):
    """{whose: secret}: the test passwords, the vault password, what init generated into the
    vault (the TSIG key named uses among them), and a line of each site's DKIM private key."""
    found = dict(PASSWORDS)
    for host in ("aio", "ext"):
        lines = lab(host).check_output("cat /etc/dkimpy-milter/keys/imip1.key").splitlines()
        found[f"{host}'s DKIM private key"] = lines[len(lines) // 2]
    found["the site's vault password"] = (SCENARIO / "vault-pass").read_text().strip()
    found["the backup repository's password"] = SITE_VARS["imip_backup_password"]
    lines = lab("aio").check_output("cat /etc/imip/backup/id_ed25519").splitlines()
    found["aio's backup SSH key"] = lines[len(lines) // 2]
    found.update({f"init's {name}": value for name, value in init_vault().items()})
    assert all(len(value) >= 12 for value in found.values()), "a secret too short to search for"
    return found


CAPTURES = [
    ("aio", "journalctl --no-pager -o cat"),
    ("aio", "cat /etc/imip-gateway/gateway.ini /etc/radicale/config /etc/radicale/rights"),
    ("aio", "systemctl show imip-gateway radicale"),
    ("aio", "ps -eo args"),
    ("aio", "cat /etc/imip/backup/backup.conf /etc/systemd/system/imip-backup.service /var/lib/imip-backup/last-success.json"),
    ("aio", "find /var/spool/imip-gateway -type f -exec cat {} +"),
    ("ext", "journalctl --no-pager -o cat"),
    ("ext", "find /var/vmail \\( -path '*/new/*' -o -path '*/cur/*' \\) -type f -exec cat {} +"),
]


@pytest.mark.parametrize("host,command", CAPTURES, ids=[f"{h}: {c.split()[0]} {c.split()[-1]}" for h, c in CAPTURES])
def test_no_test_password_in(lab, secrets, host, command):
    result = lab(host).run(command)
    assert result.rc == 0, result.stderr
    text = result.stdout + result.stderr
    assert len(text) > 0
    leaked = [user for user, password in secrets.items() if password in text]
    assert not leaked, f"the passwords of {leaked} appear in `{command}` on {host}"


def test_no_test_password_in_the_gateway_status(lab, secrets):
    text = repr(gateway_status(lab("aio")))
    assert not [user for user, password in secrets.items() if password in text]


def test_no_test_password_in_what_side_effect_captured(secrets):
    captured = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "captured"
    files = sorted(captured.glob("*.log"))
    assert files, f"side_effect captured nothing in {captured}"
    for path in files:
        text = path.read_text(errors="replace")
        leaked = [user for user, password in secrets.items() if password in text]
        assert not leaked, f"the passwords of {leaked} appear in {path.name}"
