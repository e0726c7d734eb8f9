"""What an administrator checks after the invitation account converges and after the incident
replays in side_effect: the gateway's copies exist where systemd finds them, are private, hold
the password, and the live services accept it; nothing we captured contains a test password."""

import base64
import hashlib
import imaplib
import os
import smtplib
import ssl
from pathlib import Path

import pytest
import yaml

INVENTORY = Path(__file__).resolve().parents[1] / "inventory" / "hosts.yml"
VARS = yaml.safe_load(INVENTORY.read_text())["all"]["vars"]
PASSWORD = VARS["imip_invitation_password"]
SECRETS = [PASSWORD, VARS["imip_parity_test_other_password"], VARS["imip_mail_users"][0]["password"]]
ADDRESS = "calendar-invites@example.test"


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


HOSTS = ["cal", "trixie"]


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("item", ["imip-gateway.smtp", "imip-gateway.imap"])
def test_keychain_items_are_encrypted_credentials_holding_the_password(lab, host, item):
    cal = lab(host)
    store = cal.file("/etc/credstore.encrypted")
    assert store.is_directory and store.mode == 0o700
    cred = cal.file(f"/etc/credstore.encrypted/{item}.cred")
    assert cred.is_file and cred.user == "root" and cred.mode == 0o600
    assert PASSWORD.encode() not in cred.content, "the credential is not encrypted"
    out = cal.run(f"systemd-creds decrypt --name={item} /etc/credstore.encrypted/{item}.cred - | sha256sum")
    assert out.rc == 0
    assert out.stdout.split()[0] == digest(PASSWORD)


@pytest.mark.parametrize("host", HOSTS)
def test_passwd_file_is_private_to_dovecot(lab, host):
    passwd = lab(host).file("/etc/dovecot/imip.passwd")
    assert passwd.user == "root" and passwd.group == "dovecot" and passwd.mode == 0o640
    lines = [line for line in passwd.content_string.splitlines() if line.startswith(f"{ADDRESS}:")]
    assert len(lines) == 1 and lines[0].startswith(f"{ADDRESS}:{{SHA512-CRYPT}}$6$")


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
@pytest.mark.parametrize("password, expected", [(PASSWORD, 235), (VARS["imip_parity_test_other_password"], 535)])
def test_smtp_submission_checks_the_password(address, topology, host, password, expected):
    with smtplib.SMTP(address(host), 587, timeout=30) as smtp:
        smtp._host = topology["hosts"][host]["hostname"]  # starttls() verifies the certificate against it
        smtp.ehlo("controller.test")
        smtp.starttls(context=_tls_context())
        smtp.ehlo("controller.test")
        reply = smtp.docmd("AUTH", "PLAIN " + base64.b64encode(_plain(ADDRESS, password)).decode())
    assert reply[0] == expected


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("password, accepted", [(PASSWORD, True), (VARS["imip_parity_test_other_password"], False)])
def test_imap_login_checks_the_password(address, topology, host, password, accepted):
    with NamedIMAP4SSL(address(host), topology["hosts"][host]["hostname"], _tls_context()) as imap:
        try:
            imap.authenticate("PLAIN", lambda _challenge: _plain(ADDRESS, password))
            ok = True
        except imaplib.IMAP4.error:
            ok = False
    assert ok is accepted


def test_nothing_captured_contains_a_test_password():
    captured = sorted((Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "captured").glob("*.log"))
    assert len(captured) == 2, "side_effect did not capture both --check -vvv runs"
    for log in captured:
        text = log.read_text()
        assert "keychain-smtp" in text or "dovecot-passwd-file" in text, f"{log.name} is not the run we expect"
        for secret in SECRETS:
            assert secret not in text, f"a test password appears in {log.name}"
