"""The checks: FCrDNS evaluation, RRset comparison with the fix lines, and timeouts that end as
"could not determine" (against a real UDP socket on 127.0.0.1 that never answers)."""

import socket
import threading

import dns.message
import dns.rrset
import pytest

from ansible_collections.imip.server.plugins.module_utils import _dns_check as c


class FakeResolver(object):
    def __init__(self, data, broken=()):
        self.data = data
        self.broken = set(broken)

    def query(self, name, rtype):
        if (name, rtype) in self.broken:
            raise c.Undetermined("no answer from 192.0.2.53 port 53 within 2s (3 tries)")
        return set(self.data.get((name, rtype), ()))


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


@pytest.fixture
def answering_udp():
    """A one-zone server on 127.0.0.1: answers MX and SERVFAILs everything else."""
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
            q = query.question[0]
            if q.rdtype == dns.rdatatype.MX:
                response.answer.append(dns.rrset.from_text(q.name, 300, "IN", "MX", "10 cal.example.test."))
            else:
                response.set_rcode(dns.rcode.SERVFAIL)
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    sock.close()


def test_real_server_answers_and_servfail_is_unknown(answering_udp):
    resolver = c.Resolver("127.0.0.1", answering_udp, timeout=0.5, retries=1)
    results = c.run_checks(resolver, records=[{"name": "example.test", "type": "MX", "value": "10 cal.example.test."},
                                              {"name": "cal.example.test", "type": "A", "value": "198.51.100.132"}])
    by_type = {r["type"]: r for r in results}
    assert by_type["MX"]["status"] == "ok"
    assert by_type["A"]["status"] == "unknown"
    assert "SERVFAIL" in by_type["A"]["message"]
