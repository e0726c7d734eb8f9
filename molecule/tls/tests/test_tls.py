"""What a user checks after the tls role: files and modes, names, key/certificate match, and a
client on another host that verifies a real TLS handshake with nothing but the site CA."""

import pytest

SERVERS = ["cal", "trixie"]


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


def test_issued_certificate_chains_to_the_site_ca(lab):
    out = lab("cal").run("openssl verify -CAfile /usr/local/share/ca-certificates/imip-site-ca.crt /etc/imip/tls/cert.pem")
    assert out.rc == 0, out.stderr


def test_site_ca_is_in_every_trust_store(lab):
    for name in ("cal", "trixie", "ns1"):
        bundle = lab(name).file("/etc/ssl/certs/ca-certificates.crt").content_string
        ca = lab(name).file("/usr/local/share/ca-certificates/imip-site-ca.crt").content_string.strip()
        assert ca and ca in bundle, f"site CA missing from {name}'s trust store"


def test_client_on_another_host_verifies_the_handshake(lab, address):
    """ns1 trusts only its system store (with the site CA) and checks the host name."""
    cal = lab("cal")
    cal.check_output(
        "systemd-run --unit=imip-tls-probe --collect openssl s_server -quiet -accept 8443 "
        "-cert /etc/imip/tls/cert.pem -key /etc/imip/tls/key.pem -cert_chain /etc/imip/tls/fullchain.pem -www"
    )
    try:
        cal.check_output("timeout 10 sh -c 'until ss -ltn | grep -q :8443; do sleep 0.2; done'")
        out = lab("ns1").run(
            f"openssl s_client -connect {address('cal')}:8443 -servername cal.example.test "
            "-verify_hostname cal.example.test -verify_return_error -brief < /dev/null"
        )
        assert out.rc == 0, out.stderr
        assert "Verification: OK" in out.stderr
        wrong = lab("ns1").run(
            f"openssl s_client -connect {address('cal')}:8443 -verify_hostname not-cal.example.test "
            "-verify_return_error -brief < /dev/null"
        )
        assert wrong.rc != 0, "a client accepted the certificate for a name it does not carry"
    finally:
        cal.run("systemctl stop imip-tls-probe")


def test_supplied_chain_is_in_fullchain(lab):
    """trixie ends with a supplied certificate (side_effect): fullchain = leaf + supplied chain."""
    fullchain = lab("trixie").file("/etc/imip/tls/fullchain.pem").content_string
    assert fullchain.count("-----BEGIN CERTIFICATE-----") == 2
    issuer = lab("trixie").check_output("openssl x509 -in /etc/imip/tls/cert.pem -noout -issuer")
    assert "supplied test CA" in issuer
