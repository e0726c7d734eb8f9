"""The command line the role and operators use: check-config, --config placement, the entry point."""

import subprocess
import sys
from pathlib import Path

from conftest import SECRETS

from imip_gateway import __version__, cli


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("imip-gateway")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == f"imip-gateway {__version__}"


def test_check_config_ok_and_never_prints_secrets(make_config, capsys):
    cfg = make_config(smtp_port=587)
    assert cli.main(["check-config", "--config", str(cfg.path)]) == 0
    out = capsys.readouterr()
    assert "ok: [smtp] credential imip-gateway.smtp readable" in out.out
    assert "ok: [caldav] credential imip-gateway.caldav readable" in out.out
    assert f"ok: {cfg.path} is valid" in out.out
    assert not any(secret in out.out + out.err for secret in SECRETS)
    # --config before the command works the same.
    assert cli.main(["--config", str(cfg.path), "check-config"]) == 0


def test_check_config_missing_credential(make_config, credentials_dir, capsys):
    cfg = make_config(smtp_port=587)
    (credentials_dir / "imip-gateway.caldav").unlink()
    assert cli.main(["check-config", "--config", str(cfg.path)]) == 1
    err = capsys.readouterr().err
    assert "error: [caldav] credential imip-gateway.caldav not found in $CREDENTIALS_DIRECTORY" in err
    # Outside the unit the file alone can be checked.
    assert cli.main(["check-config", "--skip-credentials", "--config", str(cfg.path)]) == 0


def test_bad_config_exits_2_naming_the_key(tmp_path, capsys):
    path = tmp_path / "gateway.ini"
    path.write_text("[gateway]\nlocal_domains = example.test\n[smtp]\nhost = x\nuser = u\nport = none\n"
                    "[caldav]\nurl = http://x/\nuser = u\n[invitations]\naddress = a@example.test\n")
    assert cli.main(["check-config", "--config", str(path)]) == 2
    assert f"{path}: [smtp] port: expected an integer from 1 to 65535, got 'none'" in capsys.readouterr().err


def test_status_before_first_run(make_config, capsys):
    cfg = make_config(smtp_port=587)
    assert cli.main(["status", "--config", str(cfg.path)]) == 1
    out = capsys.readouterr().out
    assert "does not exist yet (the service has not run)" in out and "✖ not loaded" in out
