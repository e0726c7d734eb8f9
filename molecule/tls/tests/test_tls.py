"""What a user checks after the tls role.

cal got its certificate from the ACME CA (pebble on ext, "the internet"): a client on ext verifies
the SMTP, submission, IMAPS and HTTPS endpoints of its public name through the router with
nothing but its own trust store. trixie ends with a certificate from the site CA, whose name
constraints make any other name it signs fail verification. Files and modes, names and key
match for both."""

import pytest

SERVERS = ["cal", "trixie"]
DOMAIN = "example.test"


@pytest.mark.parametrize("name", SERVERS)
def test_key_is_private_to_root_and_the_tls_group(lab, name):
    key = lab(name).file("/etc/imip/tls/key.pem")
    assert key.is_file
    assert (key.user, key.group, key.mode) == ("root", "ssl-cert", 0o640)
    tls_dir = lab(name).file("/etc/imip/tls")
    assert (tls_dir.user, tls_dir.group, tls_dir.mode) == ("root", "ssl-cert", 0o750)


@pytest.mark.parametrize("name", SERVERS)
@pytest.mark.parametrize("path", ["cert.pem", "fullchain.pem"])
def test_certificates_are_public(lab, name, path):
    cert = lab(name).file(f"/etc/imip/tls/{path}")
    assert (cert.user, cert.mode) == ("root", 0o644)
    assert cert.content_string.startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("name", SERVERS)
def test_certificate_names_the_host(lab, topology, name):
    sans = lab(name).check_output("openssl x509 -in /etc/imip/tls/cert.pem -noout -ext subjectAltName")
    assert f"DNS:{topology['hosts'][name]['hostname']}" in sans


@pytest.mark.parametrize("name", SERVERS)
def test_key_matches_certificate(lab, name):
    host = lab(name)
    from_key = host.check_output("openssl pkey -in /etc/imip/tls/key.pem -pubout")
    from_cert = host.check_output("openssl x509 -in /etc/imip/tls/cert.pem -noout -pubkey")
    assert from_key == from_cert


def test_acme_account_key_stays_on_the_host_and_private(lab):
    acme_dir = lab("cal").file("/etc/imip/acme")
    assert (acme_dir.user, acme_dir.mode) == ("root", 0o700)
    key = lab("cal").file("/etc/imip/acme/account.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)


def test_site_hosts_trust_the_public_cas_root(lab):
    """pebble's root, as the internet's public roots are trusted (imip_tls_trusted_cas)."""
    root = lab("ext").file("/usr/local/share/ca-certificates/imip-lab-acme-root.crt").content_string.strip()
    assert root.startswith("-----BEGIN CERTIFICATE-----")
    for name in ("cal", "trixie", "ns1"):
        assert root in lab(name).file("/etc/ssl/certs/ca-certificates.crt").content_string, f"{name} lacks pebble's root"


def _public_address(lab):
    """cal.example.test as the internet resolves it: ext's own name server, through the router."""
    out = lab("ext").check_output(f"dig +short +time=2 +tries=3 @127.0.0.1 cal.{DOMAIN} A").split()
    assert len(out) == 1, out
    return out[0]


@pytest.mark.parametrize("port, starttls", [(25, "smtp"), (587, "smtp"), (993, None)], ids=["smtp", "submission", "imaps"])
def test_mail_endpoints_verify_from_the_internet(lab, port, starttls):
    address = _public_address(lab)
    option = f"-starttls {starttls}" if starttls else ""
    out = lab("ext").run(
        f"echo | openssl s_client -connect {address}:{port} {option} -servername cal.{DOMAIN} "
        f"-verify_hostname cal.{DOMAIN} -verify_return_error -showcerts 2>&1"
    )
    assert out.rc == 0, out.stdout
    assert "Verify return code: 0 (ok)" in out.stdout
    assert "i:CN = Pebble Intermediate CA" in out.stdout, "not the ACME CA's certificate"


def test_https_endpoint_verifies_from_the_internet(lab):
    """Any HTTPS listener on cal's port 443 (forwarded by the router), with the role's files."""
    cal = lab("cal")
    cal.check_output(
        "systemd-run --unit=imip-tls-https-probe --collect openssl s_server -quiet -accept 443 "
        "-cert /etc/imip/tls/cert.pem -cert_chain /etc/imip/tls/fullchain.pem -key /etc/imip/tls/key.pem -www"
    )
    try:
        cal.check_output("timeout 10 sh -c 'until ss -ltn | grep -q :443; do sleep 0.2; done'")
        address = _public_address(lab)
        out = lab("ext").run(
            f"echo | openssl s_client -connect {address}:443 -servername cal.{DOMAIN} "
            f"-verify_hostname cal.{DOMAIN} -verify_return_error 2>&1"
        )
        assert out.rc == 0, out.stdout
        assert "Verify return code: 0 (ok)" in out.stdout
        wrong = lab("ext").run(
            f"echo | openssl s_client -connect {address}:443 -verify_hostname other.{DOMAIN} -verify_return_error 2>&1"
        )
        assert wrong.rc != 0, "a client accepted the certificate for a name it does not carry"
    finally:
        cal.run("systemctl stop imip-tls-https-probe")


def test_check_mode_on_fresh_hosts_asked_the_ca_nothing(lab):
    """The scenario's first step was --check on fresh hosts, with pebble already running: its
    first request came after the converge made cal's key (kept across renewals, so its time is
    the first converge's)."""
    key_made = int(lab("cal").check_output("stat -c %Y /etc/imip/tls/key.pem"))
    first = lab("ext").check_output(
        "journalctl -u pebble -o short-unix --no-pager | grep -m1 -- '-> calling handler()' | cut -d' ' -f1"
    )
    assert first, "pebble never served a request"
    assert float(first) >= key_made, "pebble served a request before the first converge"


def test_issued_certificate_chains_to_the_site_ca(lab):
    out = lab("trixie").run("openssl verify -CAfile /usr/local/share/ca-certificates/imip-site-ca.crt /etc/imip/tls/cert.pem")
    assert out.rc == 0, out.stderr


def test_site_ca_is_in_every_trust_store(lab):
    for name in ("cal", "trixie", "ns1"):
        bundle = lab(name).file("/etc/ssl/certs/ca-certificates.crt").content_string
        ca = lab(name).file("/usr/local/share/ca-certificates/imip-site-ca.crt").content_string.strip()
        assert ca and ca in bundle, f"site CA missing from {name}'s trust store"


def test_site_ca_may_sign_only_for_the_sites_domain(lab):
    out = lab("ns1").check_output(
        "openssl x509 -in /usr/local/share/ca-certificates/imip-site-ca.crt -noout -ext nameConstraints")
    assert "X509v3 Name Constraints: critical" in out
    assert out.split("Permitted:")[1].split() == [f"DNS:{DOMAIN}"]


def test_a_certificate_the_site_ca_signs_for_another_domain_is_rejected(lab):
    """side_effect signed www.not-example.test and www.example.test with the site CA's key (as a
    thief of that key could); a host that trusts the site CA accepts only the second."""
    ns1 = lab("ns1")
    outside = ns1.run("openssl verify /root/site-ca-outside.pem")
    assert outside.rc != 0
    assert "permitted subtree violation" in outside.stdout + outside.stderr
    inside = ns1.run("openssl verify /root/site-ca-inside.pem")
    assert inside.rc == 0, inside.stdout + inside.stderr


def test_client_on_another_host_verifies_the_site_ca_handshake(lab, address):
    """ns1 trusts only its system store (with the site CA) and checks the host name. The probe
    listens on 993, a port trixie's firewall opens (mail_servers) and nothing else uses there."""
    trixie = lab("trixie")
    trixie.check_output(
        "systemd-run --unit=imip-tls-probe --collect openssl s_server -quiet -accept 993 "
        "-cert /etc/imip/tls/cert.pem -key /etc/imip/tls/key.pem -cert_chain /etc/imip/tls/fullchain.pem -www"
    )
    try:
        trixie.check_output("timeout 10 sh -c 'until ss -ltn | grep -q :993; do sleep 0.2; done'")
        out = lab("ns1").run(
            f"openssl s_client -connect {address('trixie')}:993 -servername trixie.{DOMAIN} "
            f"-verify_hostname trixie.{DOMAIN} -verify_return_error -brief < /dev/null"
        )
        assert out.rc == 0, out.stderr
        assert "Verification: OK" in out.stderr
        wrong = lab("ns1").run(
            f"openssl s_client -connect {address('trixie')}:993 -verify_hostname not-trixie.{DOMAIN} "
            "-verify_return_error -brief < /dev/null"
        )
        assert wrong.rc != 0, "a client accepted the certificate for a name it does not carry"
    finally:
        trixie.run("systemctl stop imip-tls-probe")
