"""What a user of the mail role checks, with real clients on other hosts.

The internet is ext, on the outside network: it reaches cal only through gw's public address
(the firewall role's DNAT), and cal must see ext's real address (postgrey greylists by it). ext
has a second outside address that is in the client whitelist; neither is in mynetworks (cal's is
127.0.0.1/32 and [::1]/128). The router forwards to cal only, so trixie (Debian 13) is reached
from gw's inside address, also outside its mynetworks. Submission, IMAP and TLS are checked from
gw, which trusts the site CA.

State left by side_effect.yml: on cal bob@example.test was added to the recipient whitelist (a
change the running postgrey must pick up); on trixie greylisting was switched off.
"""

import json
import re
import shlex
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


def swaks(lab, client, server_ip, to, sender=None, subject="swaks", source=None):
    """One SMTP transaction on port 25 from `client` (from its address `source`, if given)."""
    sender = sender or f"sender-{token()}@external.test"
    local = f"--local-interface {source} " if source else ""
    out = lab(client).run(
        f"swaks --server {server_ip} --port 25 {local}--helo {client}.external.test --from {sender} "
        f"--to {to} --h-Subject '{subject}' --timeout 30"
    )
    return out.stdout


@pytest.fixture(scope="module")
def public(address):
    """gw's public address: what the internet connects to (DNAT to cal)."""
    return address("gw", "outside")


@pytest.fixture(scope="module")
def whitelisted(address):
    """ext's second outside address, in imip_mail_greylisting_whitelist_clients."""
    return address("ext").rsplit(".", 1)[0] + ".21"


@pytest.fixture(scope="module")
def inbound(address, public):
    """inbound(name) -> (client, server address) of a sender outside the server's mynetworks:
    ext through the public address for cal, gw's inside address for trixie."""

    def get(name):
        return ("ext", public) if name == "cal" else ("gw", address(name))

    return get


def probe(lab, client, *args):
    out = lab(client).run("python3 /usr/local/lib/mailprobe.py " + " ".join(args))
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
    # imip_mail_users in their order (addresses in lower case), then the invitation account the
    # role adds from imip_invitation_password.
    assert list(lines) == ["alice@example.test", "bob@example.test", "calendar-invites@example.test"]
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


def test_ordinary_user_is_greylisted_then_accepted(lab, address, public):
    """From the internet, through the router: greylisted by ext's own address, then accepted."""
    subject = f"grey-{token()}"
    sender = f"grey-{token()}@external.test"
    first = swaks(lab, "ext", public, "alice@example.test", sender, subject)
    assert re.search(r"450 4\.2\.0 .*Greylisted", first), first
    time.sleep(7)  # the scenario's delay is 5 s
    second = swaks(lab, "ext", public, "alice@example.test", sender, subject)
    assert "250 2.0.0 Ok: queued" in second, second
    assert delivered(lab, "cal", "alice@example.test", subject)
    # postgrey's triplet carries ext's real address, not the router's.
    grey = lab("cal").run(f"journalctl -u postgrey --no-pager | grep -F 'sender={sender},'").stdout
    assert re.search(rf"action=greylist, .*client_address={re.escape(address('ext'))}(/\d+)?,", grey), grey


def test_cal_sees_the_internet_clients_real_address(lab, address, public):
    """No masquerade on the way in: Postfix logs ext's address for a session through the router."""
    recipient = f"nobody-{token()}@example.test"
    swaks(lab, "ext", public, recipient)
    log = lab("cal").run(f"journalctl -t postfix/smtpd --no-pager | grep -F '<{recipient}>'").stdout
    assert f"RCPT from unknown[{address('ext')}]" in log, log


@pytest.mark.parametrize("name", SERVERS)
def test_invitation_subaddress_is_accepted_at_once_and_lands_in_its_inbox(lab, address, inbound, name):
    client, server = inbound(name)
    subject = f"reply-{token()}"
    out = swaks(lab, client, server, "calendar-invites+abc123@example.test", subject=subject)
    assert "250 2.0.0 Ok: queued" in out, out
    found = probe(lab, "gw", "imap", f"--host {address(name)} --servername {NAMES[name]}",
                  "--user calendar-invites@example.test", f"--subject {subject}")
    assert found == {"login": True, "found": 1}, found


def test_whitelisted_client_is_passed_at_once(lab, public, whitelisted):
    subject = f"wl-{token()}"
    out = swaks(lab, "ext", public, "alice@example.test", subject=subject, source=whitelisted)
    assert "250 2.0.0 Ok: queued" in out, out
    assert delivered(lab, "cal", "alice@example.test", subject)


def test_whitelist_change_reached_the_running_postgrey(lab, public):
    """side_effect whitelisted bob@example.test on cal; postgrey got SIGHUP, not a restart."""
    assert "bob@example.test" in lab("cal").file("/etc/postgrey/whitelist_recipients.local").content_string
    out = swaks(lab, "ext", public, "bob+x@example.test")
    assert "250 2.0.0 Ok: queued" in out, out
    assert "HUP received" in lab("cal").check_output("journalctl -u postgrey --no-pager")


def test_greylisting_off_delivers_at_once(lab, inbound):
    """side_effect switched greylisting off on trixie: postgrey is stopped and not asked."""
    trixie = lab("trixie")
    assert not trixie.service("postgrey").is_running
    assert not trixie.service("postgrey").is_enabled
    assert "check_policy_service" not in trixie.check_output("postconf -h smtpd_recipient_restrictions")
    client, server = inbound("trixie")
    subject = f"nogrey-{token()}"
    out = swaks(lab, client, server, "alice@example.test", subject=subject)
    assert "250 2.0.0 Ok: queued" in out, out
    assert delivered(lab, "trixie", "alice@example.test", subject)


@pytest.mark.parametrize("name", SERVERS)
def test_no_open_relay(lab, inbound, name):
    client, server = inbound(name)
    out = swaks(lab, client, server, "someone@third.test")
    assert "554 5.7.1 <someone@third.test>: Relay access denied" in out, out


def test_no_open_relay_for_a_whitelisted_client(lab, public, whitelisted):
    out = swaks(lab, "ext", public, "someone@third.test", source=whitelisted)
    assert "554 5.7.1 <someone@third.test>: Relay access denied" in out, out


@pytest.mark.parametrize("name", SERVERS)
def test_unknown_recipient_is_rejected_in_the_session(lab, inbound, name):
    client, server = inbound(name)
    out = swaks(lab, client, server, "nobody@example.test")
    assert re.search(r"550 5\.1\.1 <nobody@example\.test>: Recipient address rejected", out), out


def test_alias_is_delivered_to_its_account(lab, public, whitelisted):
    subject = f"alias-{token()}"
    out = swaks(lab, "ext", public, "postmaster@example.test", subject=subject, source=whitelisted)
    assert "250 2.0.0 Ok: queued" in out, out
    assert delivered(lab, "cal", "alice@example.test", subject)


FORGED = "Sender address rejected: this is an address of this server: log in on port 587 (submission) to send as it"


@pytest.mark.parametrize("name", SERVERS)
@pytest.mark.parametrize("sender", ["calendar-invites@example.test", "calendar-invites+abc123@example.test",
                                    "alice@example.test", "Postmaster@Example.test", "nobody@example.test",
                                    "root@cal.example.test"])
def test_nobody_sends_as_a_local_address_through_port_25(lab, inbound, name, sender):
    """Our own addresses are not for strangers: the invitation address (with or without a token),
    a user's, an alias's, one that belongs to nobody, a host's. Refused before greylisting, so
    the sender cannot just retry, and never delivered."""
    client, server = inbound(name)
    subject = f"forged-{token()}"
    out = swaks(lab, client, server, "bob@example.test", sender, subject)
    assert f"553 5.7.1 <{sender}>: {FORGED}" in out, out
    assert "Greylisted" not in out and "250 2.0.0 Ok: queued" not in out
    assert not delivered(lab, name, "bob@example.test", subject, wait=2)


# ---------------------------------------------------------------- DKIM

# Verifies a delivered message's DKIM signature as a receiver does, with dkimpy (the signer's own
# library, on the host), the key record being what the dns role publishes: the one built from the
# key file the signer reads. Prints pass or fail and how many signatures the message carries.
VERIFY = r"""
import base64, subprocess, sys, dkim
message = open(sys.argv[1], 'rb').read()
selector = sys.argv[2]
der = subprocess.run(['openssl', 'pkey', '-in', '/etc/dkimpy-milter/keys/%s.key' % selector, '-pubout', '-outform', 'DER'],
                     capture_output=True, check=True).stdout
record = b'v=DKIM1; k=rsa; p=' + base64.b64encode(der)
def dns(name, timeout=5):
    return record if name == (selector + '._domainkey.example.test.').encode() else None
ok = dkim.verify(message, dnsfunc=dns)
print('pass' if ok else 'fail', message.count(b'DKIM-Signature:'))
"""


def message_text(lab, server, mailbox, subject):
    assert delivered(lab, server, mailbox, subject), f"{subject} not delivered to {mailbox} on {server}"
    local, domain = mailbox.split("@")
    path = lab(server).check_output(
        f"grep -rlF 'Subject: {subject}' /var/vmail/{domain}/{local}/Maildir/new /var/vmail/{domain}/{local}/Maildir/cur")
    return path.splitlines()[0], lab(server).check_output(f"cat {path.splitlines()[0]}")


def dkim_verdict(lab, server, path, selector="imip1"):
    return lab(server).check_output(f"python3 -c {shlex.quote(VERIFY)} {path} {selector}")


@pytest.mark.parametrize("name", SERVERS)
def test_mail_from_submission_is_signed_with_the_published_key(lab, address, name):
    subject = f"dkim-{token()}"
    out = submit(lab, address, name, subject=subject)
    assert out["stage"] == "done", out
    path, text = message_text(lab, name, "bob@example.test", subject)
    unfolded = re.sub(r"\r?\n[ \t]+", " ", text)
    assert re.search(r"^DKIM-Signature: [^\n]*\bd=example\.test;[^\n]*\bs=imip1;", unfolded, re.M), text
    assert dkim_verdict(lab, name, path) == "pass 1"


@pytest.mark.parametrize("name", SERVERS)
def test_mail_made_on_the_host_is_signed(lab, name):
    """Postfix's sendmail (non_smtpd_milters): what a program on the mail host sends."""
    subject = f"local-{token()}"
    lab(name).run_expect([0], f"printf 'From: alice@example.test\\nTo: bob@example.test\\nSubject: {subject}\\n\\nhello\\n'"
                              " | /usr/sbin/sendmail -f alice@example.test bob@example.test")
    path, dummy = message_text(lab, name, "bob@example.test", subject)
    assert dkim_verdict(lab, name, path) == "pass 1"


# Forged verdicts of ours in the forms RFC 8601 allows: plain, folded, with a comment before the
# authserv-id and a version after it, in capitals. The DKIM milter alone left one of three behind.
FORGED_VERDICTS = ("cal.example.test; dkim=pass header.d=example.test",
                   "cal.example.test;\r\n\tdmarc=pass header.from=example.test",
                   "(trust me) CAL.EXAMPLE.TEST 1; spf=pass smtp.mailfrom=example.test")


def test_mail_arriving_on_25_is_never_signed_and_forged_verdicts_are_removed(lab, public, whitelisted):
    """A stranger's message with our domain in From gets no signature of ours; every
    Authentication-Results header that claims our name is removed before anyone reads it; the
    checks on arrival add one verdict of ours per check: SPF's (for the stranger's envelope) and
    DMARC's (for the From; this scenario has no DNS, so no policy is found). The DKIM milter writes
    none for an unsigned message."""
    subject = f"inbound-{token()}"
    forged = " ".join(f"--add-header {shlex.quote('Authentication-Results: ' + value)}" for value in FORGED_VERDICTS)
    out = lab("ext").run(
        f"swaks --server {public} --port 25 --local-interface {whitelisted} --helo ext.external.test "
        f"--from stranger@external.test --to bob@example.test --h-From alice@example.test {forged} "
        f"--h-Subject '{subject}' --timeout 30").stdout
    assert "250 2.0.0 Ok: queued" in out, out
    dummy, text = message_text(lab, "cal", "bob@example.test", subject)
    assert "DKIM-Signature:" not in text, text
    headers = re.sub(r"\r?\n[ \t]+", " ", text.split("\n\n", 1)[0]).splitlines()
    ours = [h for h in headers if re.match(r"Authentication-Results:\s*(\([^)]*\)\s*)*cal\.example\.test\b", h, re.I)]
    spf = [h for h in ours if "spf=" in h]
    dmarc = [h for h in ours if "dmarc=" in h]
    assert len(ours) == 2 and len(spf) == 1 and len(dmarc) == 1, ours
    assert "smtp.mailfrom=external.test" in spf[0] and "spf=pass" not in spf[0], ours
    assert "header.from=example.test" in dmarc[0] and "dmarc=pass" not in dmarc[0], ours
    assert not any("dkim=" in h for h in ours), ours


# ---------------------------------------------------------------- the hand-off to the gateway

INVITATIONS = "/var/vmail/example.test/calendar-invites/Maildir"


def handed_over(lab, server, subject, wait=15):
    """The copies of the message with `subject` in the invitation account's INBOX."""
    deadline = time.time() + wait
    while True:
        out = lab(server).run(f"grep -lF 'Subject: {subject}' {INVITATIONS}/new/* {INVITATIONS}/cur/*")
        files = out.stdout.split()
        if files or time.time() > deadline:
            return [lab(server).file(path).content_string for path in files]
        time.sleep(0.5)


@pytest.mark.parametrize("name", SERVERS)
def test_calendar_mail_to_a_local_user_is_handed_to_the_gateway(lab, inbound, whitelisted, name):
    """The global Sieve script copies a calendar mail for bob into the invitation account's INBOX,
    named on its first line; bob's own message is as it came, and a header that claims to be the
    hand-off is removed on arrival. Mail without a calendar part is not handed over."""
    client, server = inbound(name)
    source = f"--local-interface {whitelisted} " if name == "cal" else ""
    lab(client).run("printf 'BEGIN:VCALENDAR\\r\\nVERSION:2.0\\r\\nMETHOD:REQUEST\\r\\nEND:VCALENDAR\\r\\n' > /tmp/invite.ics")
    subject, plain = f"invitation-{token()}", f"plain-{token()}"
    for what, extra in ((subject, "--attach-type 'text/calendar; method=REQUEST' --attach @/tmp/invite.ics "),
                        (plain, "")):
        out = lab(client).run(
            f"swaks --server {server} --port 25 {source}--helo {client}.external.test --from olivia@external.test "
            f"--to bob@example.test --add-header 'X-IMIP-Handoff: mallory@example.test' {extra}"
            f"--h-Subject '{what}' --timeout 30").stdout
        assert "250 2.0.0 Ok: queued" in out, out
    assert delivered(lab, name, "bob@example.test", subject) and delivered(lab, name, "bob@example.test", plain)
    mine = message_text(lab, name, "bob@example.test", subject)[1]
    assert "X-IMIP-Handoff" not in mine and "text/calendar" in mine
    (copy,) = handed_over(lab, name, subject)
    assert copy.splitlines()[0] == "X-IMIP-Handoff: bob@example.test", copy[:300]
    assert copy.count("X-IMIP-Handoff") == 1 and "mallory" not in copy
    assert f"Subject: {subject}" in copy and "text/calendar" in copy
    assert handed_over(lab, name, plain, wait=2) == []
    handoff = lab(name).file("/usr/local/lib/imip-server/sieve-pipe/imip-handoff")
    assert (handoff.user, handoff.mode) == ("root", 0o755)
    assert lab(name).file("/usr/local/lib/imip-server/sieve-pipe").listdir() == ["imip-handoff"]


@pytest.mark.parametrize("name", SERVERS)
def test_the_gateway_may_send_as_a_local_user_and_no_one_else(lab, address, name):
    """A local user's answer to an outside organizer leaves from the user's address, submitted by
    the gateway's login; the gateway may not use an alias or an outside address."""
    out = submit(lab, address, name, user="calendar-invites@example.test", sender="bob@example.test",
                 to="olivia@external.test")
    assert out["auth_code"] == 235 and out["stage"] == "done", out
    for sender in ("postmaster@example.test", "olivia@external.test"):
        out = submit(lab, address, name, user="calendar-invites@example.test", sender=sender,
                     to="attendee@external.test")
        assert (out["stage"], out["code"]) == ("rcpt", 553), (sender, out)


def test_the_dkim_key_is_the_signers_alone(lab):
    for name in SERVERS:
        key = lab(name).file("/etc/dkimpy-milter/keys/imip1.key")
        assert (key.user, key.group, key.mode) == ("dkimpy-milter", "dkimpy-milter", 0o600)
        keys = lab(name).file("/etc/dkimpy-milter/keys")
        assert keys.mode & 0o007 == 0


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
def test_submission_as_the_invitation_account_to_a_local_user_is_delivered(lab, address, name):
    """What port 25 refuses, submission accepts from the invitation account itself."""
    subject = f"invite-{token()}"
    out = submit(lab, address, name, user="calendar-invites@example.test",
                 sender="calendar-invites@example.test", to="alice@example.test", subject=subject)
    assert out["auth_code"] == 235 and out["stage"] == "done", out
    assert delivered(lab, name, "alice@example.test", subject)


@pytest.mark.parametrize("name", SERVERS)
def test_only_the_invitation_account_may_send_as_the_invitation_address(lab, address, name):
    out = submit(lab, address, name, sender="calendar-invites@example.test", to="attendee@external.test")
    assert (out["stage"], out["code"]) == ("rcpt", 553), out
    assert "<calendar-invites@example.test>: Sender address rejected: not owned by user alice@example.test" in out["message"]


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
