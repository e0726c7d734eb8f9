"""The ini contract of /etc/imip-gateway/gateway.ini (docs/gateway.md, "Configuration")."""

from pathlib import Path

import pytest

from imip_gateway import config

FULL = """
[gateway]
instance_id = cal1
state_dir = /var/lib/imip-gateway
spool_dir = /var/spool/imip-gateway
local_domains = example.test, Example.ORG
site_name = Example
suppression_days = 7
token_ttl_days = 90
retry_days = 5
max_itip_bytes = 524288
auth_policy = warn
templates_dir =
log_level = info
opt_out_users = carol, dave@example.test

[smtp]
host = cal.example.test
port = 587
starttls = true
user = calendar-invites@example.test
password_credential = imip-gateway.smtp
ca_file = /etc/ssl/certs/ca-certificates.crt

[imap]
host = cal.example.test
port = 993
tls = true
user = calendar-invites@example.test
password_credential = imip-gateway.imap
polling_seconds = 30
ca_file =

[caldav]
url = https://cal.example.test
user = calendar-invites@example.test
password_credential = imip-gateway.caldav
ca_file =
reconcile_seconds = 300

[invitations]
address = calendar-invites@example.test
"""


def test_full_file_as_the_role_writes_it():
    cfg = config.parse(FULL, "/etc/imip-gateway/gateway.ini")
    assert cfg.gateway.local_domains == ("example.test", "example.org")
    assert cfg.gateway.opt_out_users == ("carol", "dave@example.test")
    assert cfg.gateway.db_path == Path("/var/lib/imip-gateway/gateway.db")
    assert cfg.gateway.templates_dir is None
    assert cfg.smtp.port == 587 and cfg.smtp.starttls is True
    assert cfg.smtp.ca_file == Path("/etc/ssl/certs/ca-certificates.crt")
    assert cfg.caldav.url == "https://cal.example.test/"
    assert cfg.imap.enabled
    assert cfg.invitations.token_address("abc") == "calendar-invites+abc@example.test"
    assert cfg.invitations.token_from_address("MAILTO:Calendar-Invites+ABC@example.test") == "abc"
    assert cfg.invitations.token_from_address("calendar-invites@example.test") is None
    assert cfg.is_local_address("mailto:Alice@EXAMPLE.test")
    assert not cfg.is_local_address("mailto:bob@external.test")
    assert cfg.warnings == ()


def test_defaults_for_everything_optional():
    cfg = config.parse("""
[gateway]
local_domains = example.test
[smtp]
host = localhost
user = invites
[caldav]
url = http://127.0.0.1:5232/
user = invites
[invitations]
address = calendar-invites@example.test
""")
    g = cfg.gateway
    assert (g.suppression_days, g.token_ttl_days, g.retry_days, g.max_itip_bytes) == (7, 90, 5, 524288)
    assert g.auth_policy == "require_dkim_or_spf" and g.log_level == "info" and g.site_name == "example.test"
    assert g.authserv_id == g.instance_id
    assert g.state_dir == Path("/var/lib/imip-gateway") and g.spool_dir == Path("/var/spool/imip-gateway")
    assert cfg.smtp.password_credential == "imip-gateway.smtp"
    assert cfg.caldav.password_credential == "imip-gateway.caldav" and cfg.caldav.reconcile_seconds == 300
    assert not cfg.imap.enabled


@pytest.mark.parametrize("section,key,value,expected", [
    ("smtp", "port", "abc", "[smtp] port: expected an integer from 1 to 65535, got 'abc'"),
    ("smtp", "starttls", "maybe", "[smtp] starttls: expected true or false, got 'maybe'"),
    ("gateway", "log_level", "trace", "[gateway] log_level: expected one of info, debug, got 'trace'"),
    ("gateway", "state_dir", "relative/dir", "[gateway] state_dir: expected an absolute path"),
    ("invitations", "address", "not-an-address", "[invitations] address: expected an email address"),
    ("caldav", "url", "cal.example.test", "[caldav] url: expected an http(s) URL"),
    ("gateway", "local_domains", "exa mple.test", "[gateway] local_domains: expected a comma-separated list"),
])
def test_bad_values_name_file_section_and_key(section, key, value, expected):
    text = FULL
    # Replace the key's line in its own section.
    lines, current = [], None
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        if current == section and line.split("=")[0].strip() == key:
            line = f"{key} = {value}"
        lines.append(line)
    with pytest.raises(config.ConfigError) as err:
        config.parse("\n".join(lines), "/etc/imip-gateway/gateway.ini")
    assert f"/etc/imip-gateway/gateway.ini: {expected}" in str(err.value)


def test_unknown_key_and_section_and_missing_required_all_reported():
    text = FULL.replace("[smtp]\nhost = cal.example.test", "[smtp]\nhots = cal.example.test") + "\n[extra]\nx = 1\n"
    with pytest.raises(config.ConfigError) as err:
        config.parse(text, "g.ini")
    message = str(err.value)
    assert "g.ini: [smtp] hots: unknown key" in message
    assert "g.ini: [smtp] host: required, not set" in message
    assert "g.ini: unknown section [extra]" in message


def test_missing_file(tmp_path):
    with pytest.raises(config.ConfigError, match="no such file"):
        config.load(tmp_path / "nope.ini")


def _with(**values):
    """FULL with some keys replaced: _with(smtp__starttls="false")."""
    lines, current = [], None
    for line in FULL.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        key = line.split("=")[0].strip()
        if f"{current}__{key}" in values:
            line = f"{key} = {values[f'{current}__{key}']}"
        lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize("values,expected", [
    ({"smtp__starttls": "false"},
     "g.ini: [smtp] starttls: false is allowed only for a server on this host (127.0.0.1, ::1, localhost); "
     "cal.example.test would get the password in clear text"),
    ({"caldav__url": "http://cal.example.test:5232/"},
     "g.ini: [caldav] url: http:// is allowed only for a server on this host (127.0.0.1, ::1, localhost); "
     "use https:// for cal.example.test"),
])
def test_clear_text_to_another_host_is_refused_naming_the_key(values, expected):
    """The SMTP password and the CalDAV credentials never cross the network in clear text."""
    with pytest.raises(config.ConfigError) as err:
        config.parse(_with(**values), "g.ini")
    assert expected in str(err.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_clear_text_to_this_host_is_allowed(host):
    url_host = f"[{host}]" if ":" in host else host
    cfg = config.parse(_with(smtp__starttls="false", smtp__host=host, caldav__url=f"http://{url_host}:5232/"))
    assert cfg.smtp.starttls is False and cfg.caldav.url == f"http://{url_host}:5232/"
