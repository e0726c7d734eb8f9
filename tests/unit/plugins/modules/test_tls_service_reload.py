# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""tls_service_reload's own I/O: records, check mode, and a reload that fails.

The reloads of real services are proven in molecule/tls (Postfix and Dovecot present a renewed
certificate); here a stand-in systemctl reports states the tests choose and logs its calls,
for what a real host cannot produce on demand (a reload that fails).
"""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.imip.server.plugins.modules import tls_service_reload

FAKE = """#!/bin/sh
echo "$@" >> "{log}"
if [ "$1" = show ]; then
  shift 3
  for unit in "$@"; do
    printf 'Id=%s\\nLoadState=loaded\\nActiveState=active\\nActiveEnterTimestamp=@100\\n\\n' "$unit"
  done
  exit 0
fi
[ "$2" = "{failing}" ] && {{ echo "Job for $2 failed." >&2; exit 1; }}
exit 0
"""


@pytest.fixture
def host(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls"
    log.write_text("")

    def make(failing=""):
        script = bindir / "systemctl"
        script.write_text(FAKE.format(log=log, failing=failing))
        script.chmod(0o755)

    make()
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    cert = tmp_path / "fullchain.pem"
    cert.write_text("certificate one\n")
    return tmp_path, cert, log, make


def _args(tmp_path, cert):
    return dict(certificate=str(cert), state_dir=str(tmp_path / "loaded"),
                services=[{"unit": "postfix"}, {"unit": "radicale", "action": "restart"}])


def _acts(log):
    return [line for line in log.read_text().splitlines() if not line.startswith("show")]


def test_reloads_once_and_records_privately(run_module, host):
    tmp_path, cert, log, dummy = host
    first = run_module(tls_service_reload, _args(tmp_path, cert))
    assert first.result["changed"] is True
    assert _acts(log) == ["reload-or-restart postfix.service", "restart radicale.service"]
    record = tmp_path / "loaded" / "postfix.service"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "loaded").stat().st_mode) == 0o700
    assert run_module(tls_service_reload, _args(tmp_path, cert)).result["changed"] is False
    assert len(_acts(log)) == 2


def test_check_mode_reports_and_does_nothing(run_module, host):
    tmp_path, cert, log, dummy = host
    run = run_module(tls_service_reload, _args(tmp_path, cert), check=True)
    assert run.result["changed"] is True
    assert [s["done"] for s in run.result["services"]] == ["reload", "restart"]
    assert _acts(log) == [] and not (tmp_path / "loaded").exists()


def test_a_failed_reload_names_the_unit_and_is_retried_next_run(run_module, host):
    tmp_path, cert, log, make = host
    make(failing="postfix.service")
    run = run_module(tls_service_reload, _args(tmp_path, cert))
    assert run.failed
    assert run.result["msg"] == ("reload-or-restart of postfix.service, which uses %s, failed: Job for postfix.service failed."
                                 % cert)
    assert not (tmp_path / "loaded" / "postfix.service").exists()
    make()
    assert run_module(tls_service_reload, _args(tmp_path, cert)).result["changed"] is True


def test_no_certificate_no_action(run_module, host):
    tmp_path, cert, log, dummy = host
    cert.unlink()
    assert run_module(tls_service_reload, _args(tmp_path, cert)).result["changed"] is False
    assert log.read_text() == ""
