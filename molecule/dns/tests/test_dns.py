"""What a user checks after the dns role: another host's resolver (dig) and dnspython on the
controller get the site's records, forward and reverse agree, the outside world sees the public
address, names of "the internet" resolve through ns1, and the nsupdate primary got the records."""

import re
from pathlib import Path

import dns.message
import dns.query
import dns.reversename
import pytest
import yaml

DOMAIN = "example.test"
SITE = ["gw", "ns1", "cal", "trixie"]


def dig(host, args):
    out = host.run(f"dig +short +time=2 +tries=3 {args}")
    assert out.rc == 0, out.stderr
    return sorted(line.strip() for line in out.stdout.splitlines() if line.strip())


# The DKIM record the scenario's inventory gives (a record longer than one 255-byte TXT string).
DKIM_RECORD = yaml.safe_load((Path(__file__).resolve().parents[1] / "inventory" / "hosts.yml").read_text())[
    "all"]["vars"]["imip_dns_dkim_records"]["imip1"]


def txt(answers):
    """One TXT record's strings (dig prints them quoted, side by side) joined."""
    assert len(answers) == 1, answers
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', answers[0]))


def ask(server, name, rtype):
    """dnspython from the controller (an inside client of ns1: podman's bridge address)."""
    response = dns.query.udp(dns.message.make_query(name, rtype), server, timeout=3)
    return sorted(rd.to_text() for rrset in response.answer if rrset.rdtype == dns.rdatatype.from_text(rtype)
                  for rd in rrset)


@pytest.mark.parametrize("name", SITE)
def test_inside_clients_get_each_host_and_its_ptr(lab, address, name):
    cal = lab("cal")
    ns1 = address("ns1")
    assert dig(cal, f"@{ns1} {name}.{DOMAIN} A") == [address(name)]
    assert dig(cal, f"@{ns1} -x {address(name)}") == [f"{name}.{DOMAIN}."]


@pytest.mark.parametrize("name", SITE)
def test_forward_and_reverse_agree_for_dnspython(address, name):
    ns1 = address("ns1")
    assert ask(ns1, f"{name}.{DOMAIN}", "A") == [address(name)]
    ptr = ask(ns1, dns.reversename.from_address(address(name)).to_text(), "PTR")
    assert ptr == [f"{name}.{DOMAIN}."]
    assert ask(ns1, ptr[0], "A") == [address(name)]


def test_mail_and_autodiscovery_records(lab, address):
    cal, ns1 = lab("cal"), address("ns1")
    assert dig(cal, f"@{ns1} {DOMAIN} MX") == [f"10 cal.{DOMAIN}."]
    assert dig(cal, f"@{ns1} _caldavs._tcp.{DOMAIN} SRV") == [f"0 1 443 cal.{DOMAIN}."]
    assert dig(cal, f"@{ns1} _caldavs._tcp.{DOMAIN} TXT") == ['"path=/"']
    assert dig(cal, f"@{ns1} _submission._tcp.{DOMAIN} SRV") == [f"0 1 587 cal.{DOMAIN}."]
    assert dig(cal, f"@{ns1} _imaps._tcp.{DOMAIN} SRV") == [f"0 1 993 cal.{DOMAIN}."]
    # RFC 6186: services not offered are announced as "0 0 0 ."
    assert dig(cal, f"@{ns1} _imap._tcp.{DOMAIN} SRV") == ["0 0 0 ."]
    assert dig(cal, f"@{ns1} {DOMAIN} TXT") == ['"v=spf1 mx -all"']
    assert dig(cal, f"@{ns1} _dmarc.{DOMAIN} TXT") == ['"v=DMARC1; p=quarantine"']
    assert txt(dig(cal, f"@{ns1} imip1._domainkey.{DOMAIN} TXT")) == DKIM_RECORD


def test_outside_view_shows_the_public_address(lab, address, topology):
    """Asked from gw's public address (not an inside client), ns1 answers with the outside view."""
    public = topology["hosts"]["gw"]["interfaces"]["outside"]
    gw = lab("gw")
    assert dig(gw, f"-b {public} @{address('ns1')} cal.{DOMAIN} A") == [public]
    assert dig(gw, f"-b {public} @{address('ns1')} {DOMAIN} MX") == [f"10 cal.{DOMAIN}."]
    # No recursion and no inside reverse zone for the internet.
    assert dig(gw, f"-b {public} @{address('ns1')} -x {address('cal')}") == []
    assert dig(gw, f"@{address('ns1')} cal.{DOMAIN} A") == [address("cal")]


def test_the_internet_finds_us_at_the_public_address(lab, topology):
    """ext's own BIND sends example.test to our public address (gw DNATs it to ns1)."""
    public = topology["hosts"]["gw"]["interfaces"]["outside"]
    ext = lab("ext")
    assert dig(ext, f"@127.0.0.1 cal.{DOMAIN} A") == [public]
    assert dig(ext, f"@127.0.0.1 {DOMAIN} MX") == [f"10 cal.{DOMAIN}."]


def test_inside_clients_resolve_the_internet_through_ns1(lab, address):
    ext_address = address("ext")
    assert dig(lab("cal"), f"@{address('ns1')} ext.external.test A") == [ext_address]
    assert dig(lab("cal"), f"@{address('ns1')} external.test MX") == ["10 ext.external.test."]


def test_configuration_validates_and_key_file_is_private(lab):
    ns1 = lab("ns1")
    assert ns1.run("named-checkconf -z").rc == 0
    keys = ns1.file("/etc/bind/imip/keys.conf")
    assert (keys.user, keys.group, keys.mode) == ("root", "bind", 0o640)
    assert ns1.file("/etc/bind/named.conf").content_string.startswith("#")
    assert ns1.service("named").is_running
    assert ns1.service("named").is_enabled


def test_tsig_secret_is_not_world_readable_on_the_primary(lab):
    trixie = lab("trixie")
    keys = trixie.file("/etc/bind/imip/keys.conf")
    assert keys.mode & 0o007 == 0
    assert 'secret "' in trixie.check_output("cat /etc/bind/imip/keys.conf")
    # The dynamic zone lives where Debian wants it, writable by named (journal beside it).
    assert trixie.file(f"/var/lib/bind/imip/default/db.{DOMAIN}").user == "bind"


def test_nsupdate_filled_the_primary(lab, address):
    """cal pushed the site's records to trixie with RFC 2136 (side_effect)."""
    trixie, ns1 = address("trixie"), lab("ns1")
    assert dig(ns1, f"@{trixie} cal.{DOMAIN} A") == [address("cal")]
    assert dig(ns1, f"@{trixie} -x {address('cal')}") == [f"cal.{DOMAIN}."]
    assert dig(ns1, f"@{trixie} {DOMAIN} MX") == [f"10 cal.{DOMAIN}."]
    assert dig(ns1, f"@{trixie} {DOMAIN} TXT") == ['"v=spf1 mx -all"']
    assert txt(dig(ns1, f"@{trixie} imip1._domainkey.{DOMAIN} TXT")) == DKIM_RECORD
    assert dig(ns1, f"@{trixie} _caldavs._tcp.{DOMAIN} SRV") == [f"0 1 443 cal.{DOMAIN}."]
    assert dig(ns1, f"@{trixie} wrong-key.{DOMAIN} A") == []


def test_the_router_is_the_firewall_roles(lab, address):
    """Port 53 of the public address reaches ns1 through the firewall role's NAT (no stand-in)."""
    gw = lab("gw")
    nat = gw.check_output("nft list table ip imip_nat")
    for proto in ("tcp", "udp"):
        assert f"{proto} dport 53 dnat to {address('ns1')}:53" in nat
    assert gw.run("nft list table ip imip_mol_dns_nat").rc != 0


def records(server, name, rtype):
    """The answer's records as dnspython parses them."""
    response = dns.query.udp(dns.message.make_query(name, rtype), server, timeout=3)
    return [rd for rrset in response.answer if rrset.rdtype == dns.rdatatype.from_text(rtype) for rd in rrset]


def test_caa_and_txt_records_are_published_as_written(address):
    """ns1's imip_dns_extra_records (the scenario's inventory): CAA written with and without quotes,
    TXT with non-ASCII text and with quotes; the converge's own check found them right."""
    caa = sorted((rd.flags, rd.tag, rd.value) for rd in records(address("ns1"), DOMAIN, "CAA"))
    assert caa == [(0, b"issue", b"letsencrypt.org"), (128, b"iodef", b"mailto:security@example.test")]
    txt = sorted(rd.strings for rd in records(address("ns1"), f"motto.{DOMAIN}", "TXT"))
    assert txt == sorted([("Grüße aus dem Labor — ☃".encode(),), (b'say "hi"', b"twice")])


def test_the_zone_file_is_ascii(lab):
    body = lab("ns1").file(f"/etc/bind/imip/zones/inside/db.{DOMAIN}").content_string
    assert body.isascii()
    assert '"Gr\\195\\188\\195\\159e aus dem Labor \\226\\128\\148 \\226\\152\\131"' in body


def test_inside_clients_are_the_inside_network_not_localnets(lab, topology):
    named = lab("ns1").file("/etc/bind/named.conf.local").content_string
    assert f"acl imip_inside {{ localhost; {topology['networks']['inside']}; }};" in named
    ext_named = lab("ext").file("/etc/bind/named.conf.local").content_string
    assert "localnets" not in named and "localnets" not in ext_named


def test_a_public_subnet_gets_no_recursion(lab, address, topology):
    """ext's name server keeps the role's default inside clients: itself and its own address. gw's
    public address lies on ext's subnet, which `localnets` would have let recurse."""
    public = topology["hosts"]["gw"]["interfaces"]["outside"]
    gw = lab("gw")
    refused = gw.run(f"dig +time=2 +tries=2 -b {public} @{address('ext')} cal.{DOMAIN} A")
    assert "status: REFUSED" in refused.stdout, refused.stdout
    # ext's own zone is still answered to everybody, and ext itself still recurses.
    assert dig(gw, f"-b {public} @{address('ext')} ext.external.test A") == [address("ext")]
    assert dig(lab("ext"), f"@127.0.0.1 cal.{DOMAIN} A") == [public]
