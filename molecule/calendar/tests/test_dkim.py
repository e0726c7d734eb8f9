"""DKIM across the lab's internet, as a big provider and our own MTA see it.

aio signs the invitation (submission from the gateway); ext, the internet's mail server with the
same role, verifies it against the record our name server publishes and writes its verdicts (DKIM,
SPF, and DMARC from those two). ext signs the attendee's reply (sendmail on ext); aio verifies it
against external.test's records and writes our verdicts, which the gateway's reply policy reads."""

import base64
import email
import email.policy
import re
import uuid

import pytest
from imip_lab_client import (await_request, gateway_status, invite, itip_for, maildir, messages, partstat, reply_message,
                             send_from_ext, sequence_of, token_address, wait_for)

ALICE = "alice@example.test"
ATTENDEE = "attendee@external.test"
OTHER = "other@external.test"
INVITATIONS = "calendar-invites@example.test"


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
    # ext's checks on arrival write one header each (its DKIM, SPF and DMARC milters').
    results = " ".join(verdicts(message, "ext.external.test"))
    assert re.search(r"dkim=pass[^;]*header\.d=example\.test", results), message.get_all("Authentication-Results")
    assert re.search(r"spf=pass[^;]*smtp\.mailfrom=example\.test", results), message.get_all("Authentication-Results")
    assert re.search(r"dmarc=pass[^;]*header\.from=example\.test", results), message.get_all("Authentication-Results")


# A forwarder passes a message on from its own host with its own envelope (here none: MAIL FROM:<>,
# as many forwarders and every bounce do), named forwarder.invalid.
FORWARD = r"""
import base64, smtplib, sys
server, rcpt, data = sys.argv[1], sys.argv[2], base64.b64decode(sys.argv[3])
with smtplib.SMTP(server, 25, local_hostname="forwarder.invalid", timeout=30) as smtp:
    smtp.sendmail("", [rcpt], data)
"""


def test_a_forwarded_invitation_passes_dmarc_on_its_signature_alone(aio, ext, invitation):
    """What forwarding does to an invitation (a university alias, a personal domain forwarded to a
    big mailbox): another host passes it on, outside example.test's SPF and with an envelope that
    is not ours, so SPF cannot speak for example.test. The signature still does, and DMARC passes
    on it; the verdicts ext wrote on the first delivery are removed, not believed."""
    uid, dummy = invitation
    # The file as delivered (the calendar part is encoded: found by the Message-ID, a plain header).
    message_id = itip_for(ext, ATTENDEE, uid)[-1][0]["Message-ID"]
    stored = ext.check_output(f"grep -rlF {message_id!r} {maildir(ATTENDEE)}/new {maildir(ATTENDEE)}/cur").split()[0]
    raw = ext.file(stored).content
    ext_address = ext.check_output("hostname -I").split()[0]
    aio.run_expect([0], f"python3 -c '{FORWARD}' {ext_address} {OTHER} {base64.b64encode(raw).decode()}")

    def forwarded():
        return [m for m in messages(ext, OTHER) if m["Message-ID"] == message_id]

    message = wait_for("the forwarded invitation in other's mailbox", forwarded, timeout=60)[0]
    ours = verdicts(message, "ext.external.test")
    assert len([v for v in ours if "dmarc=" in v]) == 1 and len([v for v in ours if "dkim=" in v]) == 1, ours
    results = " ".join(ours)
    assert re.search(r"dkim=pass[^;]*header\.d=example\.test", results), ours
    assert not re.search(r"spf=pass", results), ours
    assert re.search(r"dmarc=pass[^;]*header\.from=example\.test", results), ours


def test_the_reply_is_verified_on_arrival_and_our_verdict_says_pass(aio, ext, invitation):
    uid, request = invitation
    reply = reply_message(uid, token_address(request), ATTENDEE, "ACCEPTED", sequence_of(request))
    message_id = send_from_ext(ext, reply, ATTENDEE)

    def processed():
        # Where the gateway files it once the reply is applied (it moves it out of INBOX).
        out = aio.run(f"grep -rlF {message_id!r} {maildir(INVITATIONS)}/.Processed")
        return out.stdout.split()

    path = wait_for("the reply applied and filed in Processed", processed, timeout=120)[0]
    message = email.message_from_bytes(aio.file(path).content, policy=email.policy.default)
    results = " ".join(verdicts(message, "aio.example.test"))
    assert re.search(r"dkim=pass[^;]*header\.d=external\.test", results), message.get_all("Authentication-Results")
    assert re.search(r"spf=pass[^;]*smtp\.mailfrom=external\.test", results), message.get_all("Authentication-Results")
    assert re.search(r"dmarc=pass[^;]*header\.from=external\.test", results), message.get_all("Authentication-Results")


# Sends a message to port 25 of aio's own address (not loopback, so not exempt from the checks)
# as a stranger's server would: the envelope sender is the attendee's, from a host that
# external.test's SPF record ("v=spf1 mx -all": only ext) does not name, and nothing is signed.
FORGE = r"""
import base64, smtplib, sys
server, sender, rcpt, data = sys.argv[1], sys.argv[2], sys.argv[3], base64.b64decode(sys.argv[4])
with smtplib.SMTP(server, 25, local_hostname="forger.invalid", timeout=30) as smtp:
    smtp.sendmail(sender, [rcpt], data)
"""


def test_an_unauthenticated_reply_with_a_valid_token_is_rejected_and_the_organizer_told(calendar_of, aio, ext):
    """The policy (require_dkim_or_spf): a reply that carries the right token but comes from a host
    outside the attendee's SPF, unsigned, and with a forged verdict of ours claiming dkim=pass,
    changes nothing; it is filed in Rejected with our real verdict, and forwarded to the organizer."""
    uid = invite(calendar_of(ALICE), ALICE, ATTENDEE, hour=17)
    request = await_request(ext, ATTENDEE, uid)
    subject = f"Accepted: Planning ({uuid.uuid4().hex[:8]})"
    reply = reply_message(uid, token_address(request), ATTENDEE, "ACCEPTED", sequence_of(request), subject=subject)
    reply["Authentication-Results"] = "aio.example.test; dkim=pass header.d=external.test; spf=pass smtp.mailfrom=external.test"
    rejected = gateway_status(aio)["inbound"]["folders"]["Rejected"]
    own_address = aio.check_output("hostname -I").split()[0]
    data = base64.b64encode(reply.as_bytes()).decode()
    aio.run_expect([0], f"python3 -c '{FORGE}' {own_address} {ATTENDEE} {token_address(request)} {data}")

    wait_for("the reply in Rejected", lambda: gateway_status(aio)["inbound"]["folders"]["Rejected"] == rejected + 1, timeout=120)
    assert partstat(calendar_of(ALICE), uid, ATTENDEE) == "NEEDS-ACTION"
    stored = aio.check_output(f"grep -rlF {subject!r} {maildir(INVITATIONS)}/.Rejected").split()
    message = email.message_from_bytes(aio.file(stored[0]).content, policy=email.policy.default)
    ours = verdicts(message, "aio.example.test")
    assert not any("dkim=pass" in v for v in ours), ours  # the forged header was removed
    assert any("spf=fail" in v and "smtp.mailfrom=external.test" in v for v in ours), ours
    assert any("dmarc=fail" in v and "header.from=external.test" in v for v in ours), ours

    def forwarded():
        return [m for m in messages(aio, ALICE) if any(
            subject in str(part.get_payload(0)["Subject"]) for part in m.walk() if part.get_content_type() == "message/rfc822")
            or subject in str(m["Subject"])]

    wait_for("the forward in alice's mailbox", forwarded, timeout=60)
    assert len(forwarded()) == 1
