"""The inbound service's wiring from gateway.ini and its part of `imip-gateway status`."""

import json

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
    # `imip-gateway status` (its exit code, the site's status report) counts the inbound problems.
    whole = {"hook": {"loaded": True}, "inbound": report,
             "outbound": {"smtp": {"last_login_ok": True, "last_error": None}, "oldest_pending": None}}
    assert gateway_status.problems(whole) == status.problems(report)
    whole["inbound"] = {"error": "OperationalError: no such table"}
    assert gateway_status.problems(whole) == ["the inbound status could not be read: OperationalError: no such table"]


def test_status_when_imap_is_not_configured(world, tmp_path, inbound_radicale):
    cfg = _config(tmp_path, inbound_radicale.url, imap_host="")
    assert status.collect(world.conn, cfg)["enabled"] is False
