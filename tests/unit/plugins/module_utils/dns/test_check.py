"""The checks: FCrDNS evaluation, RRset comparison with the fix lines, records compared as records
(CAA, TXT with quotes and non-ASCII text, MX and SRV with or without trailing dots, answered by a
real UDP server on 127.0.0.1 from records built from their bytes), and timeouts that end as
"could not determine" (against a real UDP socket on 127.0.0.1 that never answers)."""

import contextlib
import socket
import threading

import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CAA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.SRV
import dns.rdtypes.ANY.MX
import dns.rrset
import pytest

from ansible_collections.imip.server.plugins.module_utils.dns import check as c


class FakeResolver(object):
    """Answers from a table of zone-file texts, parsed by dnspython as a real answer is."""

    def __init__(self, data, broken=()):
        self.data = data
        self.broken = set(broken)

    def query(self, name, rtype):
        if (name, rtype) in self.broken:
            raise c.Undetermined("no answer from 192.0.2.53 port 53 within 2s (3 tries)")
        return set(dns.rdata.from_text("IN", rtype, value) for value in self.data.get((name, rtype), ()))


GOOD = {
    ("cal.example.test.", "A"): {"198.51.100.132"},
    ("132.100.51.198.in-addr.arpa.", "PTR"): {"cal.example.test."},
    ("example.test.", "MX"): {"10 cal.example.test."},
}


def test_fcrdns_ok():
    res = c.check_fcrdns(FakeResolver(GOOD), "cal.example.test", "198.51.100.132")
    assert res["status"] == "ok" and res["fix"] == []


def test_missing_ptr_is_named_with_the_line_to_add():
    data = dict(GOOD)
    del data[("132.100.51.198.in-addr.arpa.", "PTR")]
    res = c.check_fcrdns(FakeResolver(data), "cal.example.test.", "198.51.100.132")
    assert res["status"] == "fail"
    assert "PTR of 198.51.100.132 is missing, not cal.example.test" in res["message"]
    assert res["fix"] == ["add: 132.100.51.198.in-addr.arpa. 3600 IN PTR cal.example.test."]


def test_wrong_ptr_on_a_provider_address_says_whose_it_is():
    data = {("cal.example.test.", "A"): {"198.51.100.10"},
            ("10.100.51.198.in-addr.arpa.", "PTR"): {"host-10.provider.test."}}
    res = c.check_fcrdns(FakeResolver(data), "cal.example.test", "198.51.100.10", address_owner="the internet provider")
    assert res["status"] == "fail"
    assert "PTR of 198.51.100.10 is host-10.provider.test." in res["message"]
    assert "belongs to the internet provider" in res["message"]
    assert "add: 10.100.51.198.in-addr.arpa. 3600 IN PTR cal.example.test." in res["fix"]
    assert "remove: 10.100.51.198.in-addr.arpa. 3600 IN PTR host-10.provider.test." in res["fix"]


def test_forward_mismatch():
    data = dict(GOOD)
    data[("cal.example.test.", "A")] = {"198.51.100.99"}
    res = c.check_fcrdns(FakeResolver(data), "cal.example.test", "198.51.100.132")
    assert res["status"] == "fail"
    assert "cal.example.test A is 198.51.100.99, not 198.51.100.132" in res["message"]
    assert "add: cal.example.test. 3600 IN A 198.51.100.132" in res["fix"]


def test_ipv6_fcrdns_uses_aaaa_and_ip6_arpa():
    rev = "2.3.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
    data = {("cal.example.test.", "AAAA"): {"2001:db8::132"}, (rev, "PTR"): {"cal.example.test."}}
    assert c.check_fcrdns(FakeResolver(data), "cal.example.test", "2001:DB8::132")["status"] == "ok"


def test_rrset_missing_and_extra_values():
    data = {("example.test.", "MX"): {"20 old.example.test."}}
    res = c.check_rrset(FakeResolver(data), "example.test", "MX", ["10 cal.example.test."])
    assert res["status"] == "fail"
    assert res["fix"] == ["add: example.test. 3600 IN MX 10 cal.example.test.",
                          "remove: example.test. 3600 IN MX 20 old.example.test."]


def test_txt_compares_quoted():
    data = {("example.test.", "TXT"): {'"v=spf1 mx -all"'}}
    assert c.check_rrset(FakeResolver(data), "example.test", "TXT", ["v=spf1 mx -all"])["status"] == "ok"


def test_timeout_is_unknown_never_pass_or_fail():
    res = c.check_fcrdns(FakeResolver(GOOD, broken=[("cal.example.test.", "A")]), "cal.example.test", "198.51.100.132")
    assert res["status"] == "unknown"
    assert res["message"].startswith("could not determine")
    counts, report = c.summary([res])
    assert counts == {"ok": 0, "fail": 0, "unknown": 1}
    assert report[0].startswith("? could not determine")


@pytest.fixture
def silent_udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def test_real_socket_that_never_answers_is_could_not_determine(silent_udp):
    resolver = c.Resolver("127.0.0.1", silent_udp, timeout=0.2, retries=1)
    results = c.run_checks(resolver, records=[{"name": "example.test", "type": "MX", "value": "10 cal.example.test."}],
                           fcrdns=[{"name": "cal.example.test", "address": "198.51.100.132"}])
    assert [r["status"] for r in results] == ["unknown", "unknown"]
    assert "within 0.2s (2 tries)" in results[0]["message"]


@contextlib.contextmanager
def udp_dns_server(answer):
    """A real UDP DNS server on 127.0.0.1 (wire format, as BIND sends it) until the block ends:
    answer(question, response) fills the response to each query. Yields its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except socket.timeout:
                continue
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            answer(query.question[0], response)
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        sock.close()


@pytest.fixture
def answering_udp():
    """A one-zone server on 127.0.0.1: answers MX and SERVFAILs everything else."""
    def answer(q, response):
        if q.rdtype == dns.rdatatype.MX:
            response.answer.append(dns.rrset.from_text(q.name, 300, "IN", "MX", "10 cal.example.test."))
        else:
            response.set_rcode(dns.rcode.SERVFAIL)

    with udp_dns_server(answer) as port:
        yield port


def test_real_server_answers_and_servfail_is_unknown(answering_udp):
    resolver = c.Resolver("127.0.0.1", answering_udp, timeout=0.5, retries=1)
    results = c.run_checks(resolver, records=[{"name": "example.test", "type": "MX", "value": "10 cal.example.test."},
                                              {"name": "cal.example.test", "type": "A", "value": "198.51.100.132"}])
    by_type = {r["type"]: r for r in results}
    assert by_type["MX"]["status"] == "ok"
    assert by_type["A"]["status"] == "unknown"
    assert "SERVFAIL" in by_type["A"]["message"]


def rdata(rtype, *fields):
    """A record built from its fields (bytes and names), not from text: what a server sends."""
    IN = dns.rdataclass.IN
    kind = dns.rdatatype.from_text(rtype)
    if rtype == "TXT":
        return dns.rdtypes.ANY.TXT.TXT(IN, kind, list(fields))
    if rtype == "CAA":
        return dns.rdtypes.ANY.CAA.CAA(IN, kind, *fields)
    if rtype == "MX":
        return dns.rdtypes.ANY.MX.MX(IN, kind, fields[0], dns.name.from_text(fields[1]))
    if rtype == "SRV":
        return dns.rdtypes.IN.SRV.SRV(IN, kind, fields[0], fields[1], fields[2], dns.name.from_text(fields[3]))
    raise AssertionError(rtype)


ZONE = {
    ("example.test.", "CAA"): [rdata("CAA", 0, b"issue", b"letsencrypt.org"),
                               rdata("CAA", 128, b"iodef", b"mailto:security@example.test")],
    ("motto.example.test.", "TXT"): [rdata("TXT", "Grüße aus dem Labor — ☃".encode())],
    ("quote.example.test.", "TXT"): [rdata("TXT", b'say "hi" \\ bye', b"second")],
    ("long.example.test.", "TXT"): [rdata("TXT", b"x" * 255, b"y" * 45)],
    ("example.test.", "MX"): [rdata("MX", 10, "CAL.example.test.")],
    ("_submission._tcp.example.test.", "SRV"): [rdata("SRV", 0, 1, 587, "cal.example.test."),
                                                rdata("SRV", 5, 0, 587, "mx2.example.test.")],
    ("_imap._tcp.example.test.", "SRV"): [rdata("SRV", 0, 0, 0, ".")],
}


@pytest.fixture(scope="module")
def zone_server():
    """A real UDP server on 127.0.0.1 answering from ZONE (wire format, as BIND sends it)."""
    def answer(q, response):
        records = ZONE.get((q.name.to_text().lower(), dns.rdatatype.to_text(q.rdtype)))
        if records:
            response.answer.append(dns.rrset.from_rdata_list(q.name, 300, records))

    with udp_dns_server(answer) as port:
        yield c.Resolver("127.0.0.1", port, timeout=1, retries=1)


@pytest.mark.parametrize("name, rtype, expected", [
    # CAA as the inventory writes it, quoted or not (BIND takes both), flags in decimal.
    ("example.test", "CAA", ['0 issue "letsencrypt.org"', '128 iodef "mailto:security@example.test"']),
    ("example.test", "CAA", ["0 issue letsencrypt.org", "128 iodef mailto:security@example.test"]),
    # Non-ASCII TXT: plain text, or quoted with the raw characters, or escaped as dnspython prints it.
    ("motto.example.test", "TXT", ["Grüße aus dem Labor — ☃"]),
    ("motto.example.test", "TXT", ['"Grüße aus dem Labor — ☃"']),
    ("motto.example.test", "TXT", ['"Gr\\195\\188\\195\\159e aus dem Labor \\226\\128\\148 \\226\\152\\131"']),
    # Quotes and backslashes inside TXT strings, two strings in one record.
    ("quote.example.test", "TXT", ['"say \\"hi\\" \\\\ bye" "second"']),
    # A text longer than 255 bytes is cut into strings of 255.
    ("long.example.test", "TXT", ["x" * 255 + "y" * 45]),
    # Names with and without the trailing dot, in any case.
    ("example.test", "MX", ["10 cal.example.test"]),
    ("example.test.", "MX", ["10 cal.example.test."]),
    ("_submission._tcp.example.test", "SRV", ["0 1 587 cal.example.test", "5 0 587 MX2.example.test."]),
    ("_imap._tcp.example.test", "SRV", ["0 0 0 ."]),
])
def test_records_compare_as_records_not_as_text(zone_server, name, rtype, expected):
    result = c.check_rrset(zone_server, name, rtype, expected)
    assert result["status"] == "ok", result
    assert result["fix"] == []


def test_reports_and_fixes_use_one_canonical_text(zone_server):
    result = c.check_rrset(zone_server, "motto.example.test", "TXT", ["Grüße aus Berlin"])
    assert result["status"] == "fail"
    assert result["is"] == ['"Gr\\195\\188\\195\\159e aus dem Labor \\226\\128\\148 \\226\\152\\131"']
    assert result["fix"] == [
        'add: motto.example.test. 3600 IN TXT "Gr\\195\\188\\195\\159e aus Berlin"',
        'remove: motto.example.test. 3600 IN TXT "Gr\\195\\188\\195\\159e aus dem Labor \\226\\128\\148 \\226\\152\\131"',
    ]
    # The fix line is a zone-file line a server reads back as the wanted record.
    line = result["fix"][0][len("add: "):]
    assert dns.rdata.from_text("IN", "TXT", line.split(" IN TXT ", 1)[1]).strings == ("Grüße aus Berlin".encode(),)


@pytest.mark.parametrize("name, rtype, expected, fix", [
    ("example.test", "CAA", ['0 issue "letsencrypt.org"'],
     ['remove: example.test. 3600 IN CAA 128 iodef "mailto:security@example.test"']),
    ("example.test", "CAA", ['0 issue "letsencrypt.org"', '0 issue "pki.example.test"', '128 iodef "mailto:security@example.test"'],
     ['add: example.test. 3600 IN CAA 0 issue "pki.example.test"']),
    ("quote.example.test", "TXT", ['"say \\"hi\\" \\\\ bye second"'],
     ['add: quote.example.test. 3600 IN TXT "say \\"hi\\" \\\\ bye second"',
      'remove: quote.example.test. 3600 IN TXT "say \\"hi\\" \\\\ bye" "second"']),
    ("example.test", "MX", ["20 cal.example.test"],
     ["add: example.test. 3600 IN MX 20 cal.example.test.", "remove: example.test. 3600 IN MX 10 CAL.example.test."]),
    ("_imap._tcp.example.test", "SRV", ["0 1 143 cal.example.test"],
     ["add: _imap._tcp.example.test. 3600 IN SRV 0 1 143 cal.example.test.",
      "remove: _imap._tcp.example.test. 3600 IN SRV 0 0 0 ."]),
])
def test_real_differences_still_fail_with_the_lines_to_fix(zone_server, name, rtype, expected, fix):
    result = c.check_rrset(zone_server, name, rtype, expected)
    assert result["status"] == "fail"
    assert result["fix"] == fix


def test_an_expected_value_that_does_not_parse_is_a_value_error():
    with pytest.raises(ValueError, match="CAA"):
        c.parse("CAA", "issue letsencrypt.org")
    with pytest.raises(ValueError):
        c.parse("TXT", '"not closed')
