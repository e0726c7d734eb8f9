"""DKIM across the lab's internet, as a big provider and our own MTA see it.

aio signs the invitation (submission from the gateway); ext, the internet's mail server with the
same role, verifies it against the record our name server publishes and writes its verdict. ext
signs the attendee's reply (sendmail on ext); aio verifies it against external.test's record and
writes our verdict, which the gateway's reply policy reads."""

import email
import email.policy
import re

import pytest
from imip_lab_client import await_request, invite, itip_for, maildir, reply_message, send_from_ext, sequence_of, token_address, wait_for

ALICE = "alice@example.test"
ATTENDEE = "attendee@external.test"
INVITATIONS = "calendar-invites@example.test"


@pytest.fixture(scope="module")
def aio(lab):
    return lab("aio")


@pytest.fixture(scope="module")
def ext(lab):
    return lab("ext")


def verdicts(message, authserv_id):
    """The Authentication-Results headers of `message` written by `authserv_id`, unfolded."""
    found = [re.sub(r"\s+", " ", str(value)) for value in message.get_all("Authentication-Results", [])]
    return [value for value in found if value.split(";", 1)[0].strip() == authserv_id]


def key_record(host, selector="imip1"):
    """The DKIM record made from the signer's key file on `host` (what the dns role publishes)."""
    der = host.check_output(f"openssl pkey -in /etc/dkimpy-milter/keys/{selector}.key -pubout -outform DER | base64 -w0")
    return "v=DKIM1; k=rsa; p=" + der.strip()


def published(host, name, server):
    """The TXT record `name` as `server` answers it, its strings joined."""
    out = host.check_output(f"dig +short TXT {name} @{server}")
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', out))


def test_both_sites_publish_the_key_their_signer_uses(aio, ext):
    # Our record as the internet sees it (ext asks its resolver, which finds our zone at our
    # public address), and external.test's as aio sees it.
    assert published(ext, "imip1._domainkey.example.test", "127.0.0.1") == key_record(aio)
    assert published(aio, "imip1._domainkey.external.test", "127.0.0.1") == key_record(ext)


@pytest.fixture(scope="module")
def invitation(calendar_of, ext):
    uid = invite(calendar_of(ALICE), ALICE, ATTENDEE, hour=16)
    return uid, await_request(ext, ATTENDEE, uid)


def test_the_invitation_is_signed_and_the_internet_says_dkim_pass(ext, invitation):
    uid, dummy = invitation
    message = itip_for(ext, ATTENDEE, uid)[-1][0]
    signatures = [re.sub(r"\s+", "", str(v)) for v in message.get_all("DKIM-Signature", [])]
    assert len(signatures) == 1 and "d=example.test;" in signatures[0] and "s=imip1;" in signatures[0], signatures
    results = verdicts(message, "ext.external.test")
    assert len(results) == 1 and "dkim=pass" in results[0] and "header.d=example.test" in results[0], \
        message.get_all("Authentication-Results")


def test_the_reply_is_verified_on_arrival_and_our_verdict_says_pass(aio, ext, invitation):
    uid, request = invitation
    reply = reply_message(uid, token_address(request), ATTENDEE, "ACCEPTED", sequence_of(request))
    message_id = send_from_ext(ext, reply, ATTENDEE)

    def arrived():
        out = aio.run(f"grep -rlF {message_id!r} {maildir(INVITATIONS)}")
        return out.stdout.split()

    path = wait_for("the reply in the invitation account's mailbox", arrived, timeout=120)[0]
    message = email.message_from_bytes(aio.file(path).content, policy=email.policy.default)
    results = verdicts(message, "aio.example.test")
    assert len(results) == 1, message.get_all("Authentication-Results")
    assert "dkim=pass" in results[0] and "header.d=external.test" in results[0], results
