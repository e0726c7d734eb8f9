"""The inbound service's wiring from gateway.ini and its part of `imip-gateway status`."""

import json
import time

from imip_gateway import config as config_mod
from imip_gateway import status as gateway_status
from imip_gateway.inbound import status
from imip_gateway.inbound.service import InboundService, settings_from_config

from . import messages as m


def _config(tmp_path, radicale_url, imap_host="imap.example.test"):
    path = tmp_path / "gateway.ini"
    path.write_text(
        f"[gateway]\ninstance_id = cal.example.test\nstate_dir = {tmp_path}\nlocal_domains = example.test\n"
        "auth_policy = require_dmarc\nmax_itip_bytes = 4096\n"
        f"[smtp]\nhost = 127.0.0.1\nuser = {m.INVITE}\n"
        f"[imap]\nhost = {imap_host}\nuser = {m.INVITE}\npolling_seconds = 7\n"
        f"[caldav]\nurl = {radicale_url}\nuser = {m.INVITE}\n[invitations]\naddress = {m.INVITE}\n")
    return config_mod.load(path)


def test_settings_follow_the_config(tmp_path, inbound_radicale):
    cfg = _config(tmp_path, inbound_radicale.url)
    settings = settings_from_config(cfg)
    assert (settings.invitation_address, settings.auth_policy, settings.max_itip_bytes) == (m.INVITE, "require_dmarc", 4096)
    assert settings.authserv_id == "cal.example.test" and settings.local_domains == ("example.test",)


def test_status_reports_login_folders_and_oldest(world, tmp_path, inbound_radicale):
    cfg = _config(tmp_path, inbound_radicale.url)
    # A service wired as `imip-gateway run` wires it (no IMAP connection is made until run_once).
    service = InboundService(cfg, world.conn, imap_password="x", caldav=inbound_radicale.client(), send=world.sent.append)
    assert service.worker.polling_seconds == 7 and service.processor.settings.auth_policy == "require_dmarc"
    uid, token = world.new_event()
    world.process(m.google(token, m.reply_ics(uid)))
    world.state.set_status(imap_last_login_ok=False, imap_last_login_time=0, imap_last_error="LoginError: [AUTHENTICATIONFAILED]",
                           imap_folder_counts={"INBOX": 1, "Processed": 4}, imap_oldest_unprocessed="2029-12-02T10:00:00+00:00")
    report = status.collect(world.conn, cfg)
    assert report["last_login_ok"] is False and report["folders"] == {"INBOX": 1, "Processed": 4}
    assert report["decisions_last_24h"] == {"Processed": 1}
    assert report["oldest_unprocessed"] == "2029-12-02T10:00:00+00:00"
    text = json.dumps(report)
    assert "IMAP login failed" in status.problems(report)[0]
    assert "x" not in report.values() and "AUTHENTICATIONFAILED" in text
    # `imip-gateway status` (its exit code, --json's problems, the site's status report) counts the
    # inbound problems, and prints the inbound half as ✓/✖/? lines like the outbound half.
    whole = gateway_status.collect(cfg)
    inbound_problems = status.problems(whole["inbound"])
    assert inbound_problems[0].startswith(f"IMAP login failed as {m.INVITE}@imap.example.test:993 (")
    assert [p for p in whole["problems"] if p in inbound_problems] == inbound_problems
    human = gateway_status.format_human(whole).split("\nInbound\n", 1)[1]
    assert human.splitlines()[0].startswith(f"  ✖ IMAP login failed as {m.INVITE}@imap.example.test:993 (")
    assert "  ✖ a reply has waited in INBOX since 2029-12-02T10:00:00+00:00" in human
    assert "last_login_ok" not in human and "folders:" in human
    whole["inbound"] = {"error": "OperationalError: no such table"}
    assert "the inbound status could not be read: OperationalError: no such table; journalctl -u imip-gateway -n 50" \
        in gateway_status.problems(whole)


def test_status_when_imap_is_not_configured(world, tmp_path, inbound_radicale):
    cfg = _config(tmp_path, inbound_radicale.url, imap_host="")
    assert status.collect(world.conn, cfg)["enabled"] is False


def test_status_fails_when_the_inbound_half_stopped_reading(world, tmp_path, inbound_radicale):
    """Passes over INBOX come at least every polling_seconds (7 here): three missed ones and a
    minute are a ✖ with the last IMAP error; a recent pass is a ✓."""
    cfg = _config(tmp_path, inbound_radicale.url)
    world.state.set_status(imap_last_login_ok=True, imap_last_login_time=time.time() - 3600,
                           imap_last_pass=time.time() - 3600, imap_last_error="TimeoutError: timed out",
                           imap_last_error_time=time.time() - 30)
    report = status.collect(world.conn, cfg)
    passes = next(c for c in status.checks(report) if c["id"] == "inbound.pass")
    assert passes["status"] == "fail" and passes["text"].startswith("last pass over INBOX 60 min ago (")
    assert "allowed 81 s (polling every 7 s): replies are not being read; last error (" in passes["text"]
    assert passes["text"].endswith("TimeoutError: timed out")
    world.state.set_status(imap_last_pass=time.time() - 5)
    assert [c["status"] for c in status.checks(status.collect(world.conn, cfg))] == ["ok", "ok", "ok", "ok"]
