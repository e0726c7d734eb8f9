"""What a user of the mail role checks, with real clients on other hosts: swaks and openssl on gw
and ns1, and the scenario's probe (smtplib, imaplib). gw and ns1 are outside mynetworks (cal's
is 127.0.0.1/32 and [::1]/128); ns1 is in the client whitelist, gw is not. Until the firewall
role's DNAT lands, gw (its inside address) stands in for the internet's `ext`.

State left by side_effect.yml: on cal bob@example.test was added to the recipient whitelist (a
change the running postgrey must pick up); on trixie greylisting was switched off.
"""

import json
import re
import time
import uuid
from pathlib import Path

import pytest
import yaml

SERVERS = ["cal", "trixie"]
NAMES = {"cal": "cal.example.test", "trixie": "trixie.example.test"}
VARS = yaml.safe_load((Path(__file__).resolve().parents[1] / "vars" / "mail.yml").read_text())
PASSWORDS = list(VARS["__mail_test_passwords"].values())


def token():
    return uuid.uuid4().hex[:10]


def swaks(lab, client, server_ip, to, sender=None, subject="swaks"):
    """One SMTP transaction on port 25 from `client`; returns the server's lines."""
    sender = sender or f"sender-{token()}@external.test"
    out = lab(client).run(
        f"swaks --server {server_ip} --port 25 --helo {client}.external.test --from {sender} "
        f"--to {to} --h-Subject '{subject}' --timeout 30"
    )
    return out.stdout


def probe(lab, client, *args):
    out = lab(client).run("mailprobe " + " ".join(args))
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


def delivered(lab, server, mailbox, subject, wait=15):
    """True when a message with `subject` is in the mailbox's Maildir (new or cur)."""
    local, domain = mailbox.split("@")
    deadline = time.time() + wait
    while True:
        out = lab(server).run(f"grep -rlF 'Subject: {subject}' /var/vmail/{domain}/{local}/Maildir/new /var/vmail/{domain}/{local}/Maildir/cur")
        if out.rc == 0:
            return True
        if time.time() > deadline:
            return False
        time.sleep(0.5)


# ---------------------------------------------------------------- the files and daemons


@pytest.mark.parametrize("name", SERVERS)
def test_services_listen_where_they_should(lab, name):
    host = lab(name)
    for service in ("postfix", "dovecot"):
        assert host.service(service).is_running and host.service(service).is_enabled
    for port in (25, 587, 993):
        assert host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert not host.socket("tcp://0.0.0.0:143").is_listening, "IMAP without TLS is off by default"


@pytest.mark.parametrize("name", SERVERS)
def test_passwd_file_is_private_and_holds_hashes(lab, name):
    passwd = lab(name).file("/etc/dovecot/imip.passwd")
    assert (passwd.user, passwd.group, passwd.mode) == ("root", "dovecot", 0o640)
    lines = dict(line.split(":", 1) for line in passwd.content_string.splitlines())
    assert set(lines) == {"alice@example.test", "bob@example.test", "calendar-invites@example.test"}
    # SHA512-CRYPT at 5000 rounds (implicit: no rounds= field), bob's own scheme SHA256-CRYPT.
    assert re.match(r"^\{SHA512-CRYPT\}\$6\$[^$]+\$[^$]+$", lines["alice@example.test"])
    assert lines["bob@example.test"].startswith("{SHA256-CRYPT}$5$")
    for secret in PASSWORDS:
        assert secret not in passwd.content_string


@pytest.mark.parametrize("name", SERVERS)
def test_no_password_in_any_file_the_role_wrote(lab, name):
    host = lab(name)
    text = host.check_output(
        "cat /etc/postfix/main.cf /etc/postfix/master.cf /etc/postfix/imip/* /etc/dovecot/dovecot.conf "
        "/etc/postgrey/*.local /etc/default/postgrey 2>/dev/null; true"
    )
    assert "imip" in text
    for secret in PASSWORDS:
        assert secret not in text


def test_dovecot_configuration_matches_the_installed_version(lab):
    assert "dovecot_config_version" not in lab("cal").check_output("doveconf -n")
    assert lab("cal").check_output("dovecot --version").startswith("2.3")
    assert "dovecot_config_version = 2.4" in lab("trixie").check_output("doveconf -n")
    assert lab("trixie").check_output("dovecot --version").startswith("2.4")


@pytest.mark.parametrize("name", SERVERS)
def test_mynetworks_is_the_host_itself(lab, name):
    assert lab(name).check_output("postconf -h mynetworks") == "127.0.0.1/32 [::1]/128"


# ---------------------------------------------------------------- inbound on 25


def test_ordinary_user_is_greylisted_then_accepted(lab, address):
    subject = f"grey-{token()}"
    sender = f"grey-{token()}@external.test"
    first = swaks(lab, "gw", address("cal"), "alice@example.test", sender, subject)
    assert re.search(r"450 4\.2\.0 .*Greylisted", first), first
    time.sleep(7)  # the scenario's delay is 5 s
    second = swaks(lab, "gw", address("cal"), "alice@example.test", sender, subject)
    assert "250 2.0.0 Ok: queued" in second, second
    assert delivered(lab, "cal", "alice@example.test", subject)


@pytest.mark.parametrize("name", SERVERS)
def test_invitation_subaddress_is_accepted_at_once_and_lands_in_its_inbox(lab, address, name):
    subject = f"reply-{token()}"
    out = swaks(lab, "gw", address(name), "calendar-invites+abc123@example.test", subject=subject)
    assert "250 2.0.0 Ok: queued" in out, out
    found = probe(lab, "gw", "imap", f"--host {address(name)} --servername {NAMES[name]}",
                  "--user calendar-invites@example.test", f"--subject {subject}")
    assert found == {"login": True, "found": 1}, found


def test_whitelisted_client_is_passed_at_once(lab, address):
    subject = f"wl-{token()}"
    out = swaks(lab, "ns1", address("cal"), "alice@example.test", subject=subject)
    assert "250 2.0.0 Ok: queued" in out, out
    assert delivered(lab, "cal", "alice@example.test", subject)


def test_whitelist_change_reached_the_running_postgrey(lab, address):
    """side_effect whitelisted bob@example.test on cal; postgrey got SIGHUP, not a restart."""
    assert "bob@example.test" in lab("cal").file("/etc/postgrey/whitelist_recipients.local").content_string
    out = swaks(lab, "gw", address("cal"), "bob+x@example.test")
    assert "250 2.0.0 Ok: queued" in out, out
    assert "HUP received" in lab("cal").check_output("journalctl -u postgrey --no-pager")


def test_greylisting_off_delivers_at_once(lab, address):
    """side_effect switched greylisting off on trixie: postgrey is stopped and not asked."""
    trixie = lab("trixie")
    assert not trixie.service("postgrey").is_running
    assert not trixie.service("postgrey").is_enabled
    assert "check_policy_service" not in trixie.check_output("postconf -h smtpd_recipient_restrictions")
    subject = f"nogrey-{token()}"
    out = swaks(lab, "gw", address("trixie"), "alice@example.test", subject=subject)
    assert "250 2.0.0 Ok: queued" in out, out
    assert delivered(lab, "trixie", "alice@example.test", subject)


@pytest.mark.parametrize("name", SERVERS)
@pytest.mark.parametrize("client", ["gw", "ns1"])
def test_no_open_relay(lab, address, name, client):
    out = swaks(lab, client, address(name), "someone@third.test")
    assert "554 5.7.1 <someone@third.test>: Relay access denied" in out, out


@pytest.mark.parametrize("name", SERVERS)
def test_unknown_recipient_is_rejected_in_the_session(lab, address, name):
    out = swaks(lab, "ns1", address(name), "nobody@example.test")
    assert re.search(r"550 5\.1\.1 <nobody@example\.test>: Recipient address rejected", out), out


def test_alias_is_delivered_to_its_account(lab, address):
    subject = f"alias-{token()}"
    out = swaks(lab, "ns1", address("cal"), "postmaster@example.test", subject=subject)
    assert "250 2.0.0 Ok: queued" in out, out
    assert delivered(lab, "cal", "alice@example.test", subject)


# ---------------------------------------------------------------- submission on 587


def submit(lab, address, name, *extra, user="alice@example.test", sender="alice@example.test",
           to="bob@example.test", subject=None):
    return probe(lab, "gw", "smtp", f"--host {address(name)} --port 587 --servername {NAMES[name]}",
                 f"--helo gw.example.test --user {user} --from {sender} --to {to}",
                 f"--subject {subject or token()}", *extra)


@pytest.mark.parametrize("name", SERVERS)
def test_submission_with_the_right_password_delivers(lab, address, name):
    subject = f"sub-{token()}"
    out = submit(lab, address, name, subject=subject)
    assert out["auth_code"] == 235 and out["stage"] == "done", out
    assert delivered(lab, name, "bob@example.test", subject)


@pytest.mark.parametrize("name", SERVERS)
def test_submission_as_the_invitation_account_to_the_outside_is_queued(lab, address, name):
    """The gateway's path: AUTH as the invitation account, an external attendee as recipient."""
    out = submit(lab, address, name, user="calendar-invites@example.test",
                 sender="calendar-invites@example.test", to="attendee@external.test")
    assert out["auth_code"] == 235 and out["stage"] == "done", out


@pytest.mark.parametrize("name", SERVERS)
def test_submission_with_a_wrong_password_is_refused(lab, address, name):
    out = submit(lab, address, name, "--wrong-password")
    assert (out["stage"], out["code"]) == ("auth", 535), out


@pytest.mark.parametrize("name", SERVERS)
def test_submission_without_starttls_is_refused(lab, address, name):
    out = probe(lab, "gw", "smtp", f"--host {address(name)} --port 587 --no-starttls",
                "--from alice@example.test --to bob@example.test")
    assert (out["stage"], out["code"]) == ("mail", 530), out
    assert "STARTTLS" in out["message"]


@pytest.mark.parametrize("name", SERVERS)
def test_submission_as_someone_elses_address_is_refused(lab, address, name):
    out = submit(lab, address, name, sender="bob@example.test")
    assert (out["stage"], out["code"]) == ("rcpt", 553), out
    assert "not owned by user alice@example.test" in out["message"]


# ---------------------------------------------------------------- IMAP and TLS


@pytest.mark.parametrize("name", SERVERS)
def test_imaps_login_as_the_invitation_account(lab, address, name):
    imaps = f"--host {address(name)} --servername {NAMES[name]} --user calendar-invites@example.test"
    good = probe(lab, "gw", "imap", imaps)
    assert good["login"] is True, good
    bad = probe(lab, "gw", "imap", imaps, "--wrong-password")
    assert bad["login"] is False and "AUTHENTICATIONFAILED" in bad.get("error", ""), bad


@pytest.mark.parametrize("name", SERVERS)
@pytest.mark.parametrize("how", ["-starttls smtp -connect {ip}:25", "-connect {ip}:993"])
def test_tls_presents_the_lab_certificate(lab, address, name, how):
    """gw trusts only its system store (with the site CA) and checks the host name."""
    out = lab("gw").run(
        f"openssl s_client {how.format(ip=address(name))} -servername {NAMES[name]} "
        f"-verify_hostname {NAMES[name]} -verify_return_error -brief < /dev/null"
    )
    assert out.rc == 0, out.stderr
    assert "Verification: OK" in out.stderr
