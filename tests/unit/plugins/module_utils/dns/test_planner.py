"""The planner: records derived from the inventory, zone-file lines, serials, bad input.

The TSIG key checks are in test_inputs.py."""

import datetime

import pytest

from ansible_collections.imip.server.plugins.module_utils.dns import planner as r
from ansible_collections.imip.server.plugins.module_utils.dns.records import txt_strings
from ansible_collections.imip.server.plugins.module_utils.dns.zone_text import next_serial, zone_line

HOSTS = [
    {"host": "gw", "fqdn": "gw.example.test", "ipv4": "198.51.100.130"},
    {"host": "ns1", "fqdn": "ns1.example.test", "ipv4": "198.51.100.131"},
    {"host": "cal", "fqdn": "cal.example.test", "ipv4": "198.51.100.132", "ipv6": "2001:db8::132"},
]


def site(**kw):
    args = dict(domain="example.test", hosts=HOSTS, nameservers=["ns1.example.test"],
                mail_hosts=["cal.example.test"], calendar_hosts=["cal.example.test"],
                public_ipv4="198.51.100.10")
    args.update(kw)
    return r.plan(**args)


def zone(p, view, name):
    v = next(v for v in p["views"] if v["name"] == view)
    return next(z for z in v["zones"] if z["name"] == name)


def lines(z):
    return z["body"].splitlines()


def test_inside_view_has_inside_addresses_and_every_service_record():
    p = site()
    assert p["errors"] == []
    body = lines(zone(p, "inside", "example.test"))
    for expected in [
        "@ IN NS ns1.example.test.",
        "@ IN MX 10 cal.example.test.",
        '@ IN TXT "v=spf1 mx -all"',
        '_dmarc IN TXT "v=DMARC1; p=quarantine"',
        "_caldavs._tcp IN SRV 0 1 443 cal.example.test.",
        '_caldavs._tcp IN TXT "path=/"',
        "_caldav._tcp IN SRV 0 0 0 .",
        "_submission._tcp IN SRV 0 1 587 cal.example.test.",
        "_imaps._tcp IN SRV 0 1 993 cal.example.test.",
        "_imap._tcp IN SRV 0 0 0 .",
        "_pop3._tcp IN SRV 0 0 0 .",
        "cal IN A 198.51.100.132",
        "cal IN AAAA 2001:db8::132",
        "gw IN A 198.51.100.130",
    ]:
        assert expected in body


def test_outside_view_shows_the_public_address_and_has_no_reverse_zones():
    p = site()
    outside = next(v for v in p["views"] if v["name"] == "outside")
    assert [z["name"] for z in outside["zones"]] == ["example.test"]
    body = lines(outside["zones"][0])
    assert "cal IN A 198.51.100.10" in body and "ns1 IN A 198.51.100.10" in body
    assert not any("198.51.100.13" in line for line in body)
    assert outside["fcrdns"] == []


def test_reverse_zones_ipv4_and_ipv6():
    p = site()
    assert "132 IN PTR cal.example.test." in lines(zone(p, "inside", "100.51.198.in-addr.arpa"))
    v6 = zone(p, "inside", "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")
    assert "2.3.1.0.0.0.0.0.0.0.0.0.0.0.0.0 IN PTR cal.example.test." in lines(v6)


def test_one_view_without_nat():
    p = site(public_ipv4="")
    assert [v["name"] for v in p["views"]] == ["default"]
    p = site(views=False)
    assert [v["name"] for v in p["views"]] == ["default"]
    assert "cal IN A 198.51.100.132" in lines(zone(p, "default", "example.test"))


def test_services_not_offered_without_mail_or_calendar_hosts():
    p = site(mail_hosts=[], calendar_hosts=[])
    body = lines(zone(p, "inside", "example.test"))
    assert "_caldavs._tcp IN SRV 0 0 0 ." in body
    assert "_submission._tcp IN SRV 0 0 0 ." in body
    assert not any(" MX " in line or "spf1" in line for line in body)


def test_wider_reverse_network_holds_every_address():
    p = site(reverse_networks=["198.51.0.0/16", "2001:db8::/32"])
    assert "132.100 IN PTR cal.example.test." in lines(zone(p, "inside", "51.198.in-addr.arpa"))


def test_extra_records_relative_absolute_quoted_and_per_view():
    p = site(extra_records=[
        {"name": "www", "type": "CNAME", "value": "cal"},
        {"name": "@", "type": "CAA", "value": '0 issue "letsencrypt.org"'},
        {"name": "long", "type": "TXT", "value": "x" * 300},
        {"name": "intra.example.test.", "type": "A", "value": "10.1.1.1", "view": "inside"},
    ])
    inside = lines(zone(p, "inside", "example.test"))
    outside = lines(zone(p, "outside", "example.test"))
    assert "www IN CNAME cal.example.test." in inside
    assert '@ IN CAA 0 issue "letsencrypt.org"' in inside
    assert 'long IN TXT "%s" "%s"' % ("x" * 255, "x" * 45) in inside
    assert "intra IN A 10.1.1.1" in inside and "intra IN A 10.1.1.1" not in outside


@pytest.mark.parametrize("kw, expected", [
    (dict(reverse_networks=["10.0.0.0/8"]),
     "imip_host_ipv4 of cal (198.51.100.132) lies outside every reverse zone in imip_dns_reverse_networks (10.0.0.0/8)"),
    (dict(extra_records=[{"name": "www.other.test.", "type": "A", "value": "192.0.2.1"}]),
     "imip_dns_extra_records[0].name www.other.test is outside imip_domain example.test"),
    (dict(extra_records=[{"name": "cal", "type": "CNAME", "value": "ns1"}]),
     "imip_dns_extra_records: CNAME at cal.example.test conflicts with its A, AAAA record(s)"),
    (dict(extra_records=[{"name": "x", "type": "CNAME", "value": "a"}, {"name": "x", "type": "CNAME", "value": "b"}]),
     "CNAME at x.example.test conflicts with its a second CNAME"),
    (dict(hosts=[{"host": "cal", "fqdn": "cal.other.test", "ipv4": "198.51.100.132"}]),
     "imip_host_fqdn of cal (cal.other.test) is outside imip_domain example.test"),
    (dict(reverse_networks=["198.51.100.128/25"]), "prefix length must be a multiple of 8"),
    (dict(extra_records=[{"name": "m", "type": "MX", "value": "not-a-number x"}]), "imip_dns_extra_records[0].value"),
    (dict(extra_records=[{"name": "m", "type": "SPF", "value": "x"}]), "imip_dns_extra_records[0].type SPF"),
    (dict(nameservers=[]), "imip_dns_nameservers is empty"),
])
def test_bad_input_is_named(kw, expected):
    p = site(**kw)
    assert p["views"] == []
    assert any(expected in e for e in p["errors"]), p["errors"]


@pytest.mark.parametrize("value, zone_text", [
    # CAA quoted or not (BIND takes both) is written one way: as dnspython prints it.
    ('0 issue "letsencrypt.org"', '0 issue "letsencrypt.org"'),
    ("0 issue letsencrypt.org", '0 issue "letsencrypt.org"'),
    ('128 iodef "mailto:security@example.test"', '128 iodef "mailto:security@example.test"'),
])
def test_caa_is_written_in_canonical_form(value, zone_text):
    p = site(extra_records=[{"name": "@", "type": "CAA", "value": value}])
    assert "@ IN CAA " + zone_text in lines(zone(p, "inside", "example.test"))


@pytest.mark.parametrize("value, zone_text", [
    ("Grüße aus dem Labor — ☃", '"Gr\\195\\188\\195\\159e aus dem Labor \\226\\128\\148 \\226\\152\\131"'),
    ('"Grüße"', '"Gr\\195\\188\\195\\159e"'),
    ('"Gr\\195\\188\\195\\159e"', '"Gr\\195\\188\\195\\159e"'),
    ('say "hi"', '"say \\"hi\\""'),
    ('"say \\"hi\\"" "two"', '"say \\"hi\\"" "two"'),
    ("back\\slash", '"back\\\\slash"'),
    ("é" * 200, '"%s" "%s"' % ("\\195\\169" * 127 + "\\195", "\\169" + "\\195\\169" * 72)),
])
def test_txt_is_written_as_ascii_in_canonical_form(value, zone_text):
    """Zone files stay ASCII; the text is cut every 255 bytes, not characters."""
    p = site(extra_records=[{"name": "motto", "type": "TXT", "value": value}])
    assert "motto IN TXT " + zone_text in lines(zone(p, "inside", "example.test"))
    assert zone(p, "inside", "example.test")["body"].isascii()


@pytest.mark.parametrize("value", ['"not closed', '"a" b', '"\\300"', '0 issue', 'issue "x"', '0 issue two words', '256 issue x'])
def test_broken_txt_and_caa_values_are_named(value):
    rtype = "TXT" if value.startswith('"') else "CAA"
    p = site(extra_records=[{"name": "x", "type": rtype, "value": value}])
    assert p["views"] == []
    assert p["errors"] == ["imip_dns_extra_records[0].value %r is not valid %s data" % (value, rtype)]


def _installed(body, serial):
    return ";\n; Ansible managed\n;\n" + body.replace("    SERIAL ; serial", "    %d ; serial" % serial) + "\n"


def test_serial_kept_when_the_content_is_the_same():
    body = zone(site(), "inside", "example.test")["body"]
    assert next_serial(_installed(body, 2026112501), body) == (2026112501, False)


def test_serial_bumped_only_when_the_content_changes():
    today = datetime.date(2026, 11, 25)
    old = zone(site(), "inside", "example.test")["body"]
    new = zone(site(extra_records=[{"name": "www", "type": "CNAME", "value": "cal"}]), "inside", "example.test")["body"]
    assert next_serial(_installed(old, 2026112507), new, today) == (2026112508, True)
    assert next_serial(_installed(old, 2020010100), new, today) == (2026112500, True)
    assert next_serial("", new, today) == (2026112500, True)


def test_zone_line_is_absolute_without_origin():
    rec = {"name": "132.100.51.198.in-addr.arpa", "type": "PTR", "value": "cal.example.test.", "ttl": 3600}
    assert zone_line(rec) == "132.100.51.198.in-addr.arpa. 3600 IN PTR cal.example.test."


def test_rrsets_group_values_and_leave_ns_out():
    v = next(v for v in site()["views"] if v["name"] == "inside")
    types = {(s["name"], s["type"]) for s in v["rrsets"]}
    assert ("example.test.", "NS") not in types
    assert {"zone": "example.test", "name": "example.test.", "type": "MX", "values": ["10 cal.example.test."]} in v["rrsets"]
    assert {"name": "cal.example.test.", "address": "2001:db8::132"} in v["fcrdns"]


def test_an_address_provider_serves_the_ptr_of_a_customers_address():
    # ext in the lab: its own zone, and the PTR of the site's public address in its reverse zone.
    p = r.plan(domain="external.test", hosts=[{"host": "ext", "fqdn": "ext.external.test", "ipv4": "198.51.100.20"}],
               nameservers=["ext.external.test"], views=False,
               ptr_records=[{"address": "198.51.100.10", "name": "cal.example.test"}])
    assert p["errors"] == []
    body = lines(zone(p, "default", "100.51.198.in-addr.arpa"))
    assert "10 IN PTR cal.example.test." in body
    assert "20 IN PTR ext.external.test." in body


def test_a_ptr_record_outside_the_served_networks_gets_its_own_zone_or_is_named():
    ptr = [{"address": "203.0.113.7", "name": "mail.example.org."}]
    p = site(ptr_records=ptr)
    assert p["errors"] == []
    assert "7 IN PTR mail.example.org." in lines(zone(p, "inside", "113.0.203.in-addr.arpa"))
    p = site(ptr_records=ptr, reverse_networks=["198.51.100.0/24", "2001:db8::/64"])
    assert p["errors"] == ["imip_dns_ptr_records[0].address 203.0.113.7 lies outside every reverse zone in "
                           "imip_dns_reverse_networks (198.51.100.0/24, 2001:db8::/64)"]


@pytest.mark.parametrize("record,expected", [
    ({"address": "198.51.100.132", "name": "x.example.org"},
     "imip_dns_ptr_records[0].address 198.51.100.132 is already the address of host cal, which has its own PTR"),
    ({"address": "not-an-address", "name": "x.example.org"}, "imip_dns_ptr_records[0].address not-an-address is not an IP address"),
    ({"address": "203.0.113.7", "name": "no space.example"}, "imip_dns_ptr_records[0].name no space.example is not a host name"),
    ({"name": "x.example.org"}, "imip_dns_ptr_records[0] needs an address and a name"),
])
def test_bad_ptr_records_are_named(record, expected):
    assert site(ptr_records=[record])["errors"] == [expected]


# A 2048-bit key's record: longer than one TXT string (255 bytes), as every real one is.
DKIM_RECORD = "v=DKIM1; k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 350 + "IDAQAB"


def test_dkim_keys_are_published_in_both_views_in_strings_of_at_most_255_bytes():
    p = site(dkim={"imip1": DKIM_RECORD, "imip2": DKIM_RECORD.replace("x", "y")})
    assert p["errors"] == []
    for view in ("inside", "outside"):
        records = [rec for rec in zone(p, view, "example.test")["records"] if rec["name"].endswith("._domainkey.example.test.")]
        assert sorted(rec["name"] for rec in records) == ["imip1._domainkey.example.test.", "imip2._domainkey.example.test."]
        first = next(rec for rec in records if rec["name"].startswith("imip1."))
        strings = txt_strings(first["value"])
        assert b"".join(strings).decode() == DKIM_RECORD and all(len(s) <= 255 for s in strings) and len(strings) == 2


def test_no_dkim_record_without_a_mail_host():
    p = site(mail_hosts=[], dkim={"imip1": DKIM_RECORD})
    assert not any("_domainkey" in line for line in lines(zone(p, "inside", "example.test")))


@pytest.mark.parametrize("dkim", [{"imip_1": DKIM_RECORD}, {"imip1": "k=rsa; p=AAAA"}])
def test_a_bad_dkim_record_is_named(dkim):
    p = site(dkim=dkim)
    assert p["views"] == [] and any(e.startswith("imip_dns_dkim_records:") for e in p["errors"])


def test_dmarc_reports_go_to_a_mailbox_of_the_site():
    p = site(dmarc_report_address="dmarc-reports@example.test")
    assert '_dmarc IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.test"' in lines(zone(p, "inside", "example.test"))


@pytest.mark.parametrize("address", ["reports@elsewhere.test", "no-at-sign", "a b@example.test", "x@exa_mple..test"])
def test_a_dmarc_report_address_outside_the_site_is_named(address):
    p = site(dmarc_report_address=address)
    assert p["views"] == [] and any(e.startswith("imip_dns_dmarc_report_address") for e in p["errors"])
