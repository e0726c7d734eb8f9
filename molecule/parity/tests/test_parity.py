"""What an administrator checks after the invitation password was rotated (side_effect ends with
the rotation): the gateway's copies exist where systemd finds them, are private and hold the new
password; the account's hash verifies it; the live services accept the new password and refuse
the old one; nothing we captured contains a test password."""

import base64
import hashlib
import imaplib
import os
import re
import smtplib
import ssl
from pathlib import Path

import pytest
import yaml
from passlib.hash import sha512_crypt

SCENARIO = Path(__file__).resolve().parents[1]
VARS = yaml.safe_load((SCENARIO / "inventory" / "hosts.yml").read_text())["all"]["vars"]
OLD = VARS["imip_invitation_password"]
NEW = yaml.safe_load((SCENARIO / "rotated" / "hosts.yml").read_text())["all"]["vars"]["imip_invitation_password"]
OTHER = VARS["imip_parity_test_other_password"]
SECRETS = [OLD, NEW, OTHER, VARS["imip_mail_users"][0]["password"]]
ADDRESS = "calendar-invites@example.test"
HOSTS = ["cal", "trixie"]
ITEMS = ["imip-gateway.smtp", "imip-gateway.imap", "imip-gateway.caldav"]


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_passwords_differ():
    assert len({OLD, NEW, OTHER}) == 3, "the scenario's test passwords must differ, or these tests prove nothing"


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("item", ITEMS)
def test_keychain_items_are_encrypted_credentials_holding_the_new_password(lab, host, item):
    cal = lab(host)
    store = cal.file("/etc/credstore.encrypted")
    assert store.is_directory and store.mode == 0o700
    cred = cal.file(f"/etc/credstore.encrypted/{item}.cred")
    assert cred.is_file and cred.user == "root" and cred.mode == 0o600
    assert NEW.encode() not in cred.content, "the credential is not encrypted"
    out = cal.run(f"systemd-creds decrypt --name={item} /etc/credstore.encrypted/{item}.cred - | sha256sum")
    assert out.rc == 0
    assert out.stdout.split()[0] == digest(NEW)


@pytest.mark.parametrize("host", HOSTS)
def test_passwd_file_is_private_to_dovecot_and_its_hash_verifies_the_new_password(lab, host):
    passwd = lab(host).file("/etc/dovecot/imip.passwd")
    assert passwd.user == "root" and passwd.group == "dovecot" and passwd.mode == 0o640
    lines = [line for line in passwd.content_string.splitlines() if line.startswith(f"{ADDRESS}:")]
    assert len(lines) == 1 and lines[0].startswith(f"{ADDRESS}:{{SHA512-CRYPT}}$6$")
    stored = lines[0].split(":")[1][len("{SHA512-CRYPT}"):]
    # Verified here, on the controller: the password never goes into a command line.
    assert sha512_crypt.verify(NEW, stored) and not sha512_crypt.verify(OLD, stored)


def _tls_context():
    """Trust only the site CA the tls role made beside the scenario's inventory."""
    ca = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory" / ".tls-ca" / "ca.pem"
    return ssl.create_default_context(cafile=str(ca))


def _plain(user, password):
    # SASL PLAIN in UTF-8 (smtplib and imaplib would only send ASCII).
    return b"\0" + user.encode() + b"\0" + password.encode()


class NamedIMAP4SSL(imaplib.IMAP4_SSL):
    """IMAPS to an address, verifying the certificate against a host name."""

    def __init__(self, address, name, context):
        self._name = name
        super().__init__(address, 993, ssl_context=context, timeout=30)

    def _create_socket(self, timeout):
        sock = imaplib.IMAP4._create_socket(self, timeout)  # pylint: disable=protected-access
        return self.ssl_context.wrap_socket(sock, server_hostname=self._name)


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("password, expected", [(NEW, 235), (OLD, 535), (OTHER, 535)], ids=["new", "old", "other"])
def test_smtp_submission_accepts_only_the_new_password(address, topology, host, password, expected):
    with smtplib.SMTP(address(host), 587, timeout=30) as smtp:
        smtp._host = topology["hosts"][host]["hostname"]  # starttls() verifies the certificate against it
        smtp.ehlo("controller.test")
        smtp.starttls(context=_tls_context())
        smtp.ehlo("controller.test")
        reply = smtp.docmd("AUTH", "PLAIN " + base64.b64encode(_plain(ADDRESS, password)).decode())
    assert reply[0] == expected


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("password, accepted", [(NEW, True), (OLD, False), (OTHER, False)], ids=["new", "old", "other"])
def test_imap_login_accepts_only_the_new_password(address, topology, host, password, accepted):
    with NamedIMAP4SSL(address(host), topology["hosts"][host]["hostname"], _tls_context()) as imap:
        try:
            imap.authenticate("PLAIN", lambda _challenge: _plain(ADDRESS, password))
            ok = True
        except imaplib.IMAP4.error:
            ok = False
    assert ok is accepted


CAPTURED = {
    # log: what shows it is the run we expect (the YAML callback may wrap long messages)
    "check-smtp-drift.log": r"keychain-smtp",
    "check-passwd-drift.log": r"not\s+rewritten:\s+the\s+store\s+is\s+readonly",
    "rotation-invitation-account-first.log": r"is\s+written\s+by\s+the\s+mail\s+role\s+only",
    "rotation-converge.log": r"keychain-caldav",
    "rotation-converge-again.log": r"cal\s*:\s*ok=\d+\s+changed=0\s",
}


def test_nothing_captured_contains_a_test_password():
    captured = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "captured"
    assert sorted(p.name for p in captured.glob("*.log")) == sorted(CAPTURED), "side_effect did not capture every run"
    for name, marker in CAPTURED.items():
        text = (captured / name).read_text()
        assert re.search(marker, text), f"{name} is not the run we expect"
        assert "ESTABLISH SSH CONNECTION" in text, f"{name} is not a -vvv run"
        for secret in SECRETS:
            assert secret not in text, f"a test password appears in {name}"
