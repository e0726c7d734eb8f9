"""What a user checks after the firewall role: the internet reaches the forwarded services on
cal through gw's public address with its real client address, and nothing else; inside hosts
reach the public address (hairpin) and the internet (masquerade); the host firewall drops what
it does not serve; other tables survive; the ruleset is loaded at boot.

IPv6: the lab has no IPv6 addresses yet, so IPv6 is proven only by the rules being present and
the file passing `nft -c`."""

import re
import shlex

import pytest

FORWARDED = [25, 587, 993, 443]
NOT_FORWARDED = 8080  # cal listens there too, but it is neither opened nor forwarded

PROBE = r'''
import socket, selectors, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16); sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        conn, peer = key.fileobj.accept()
        conn.sendall(("peer %s port %d\n" % (peer[0], key.fileobj.getsockname()[1])).encode()); conn.close()
'''

CLIENT = (
    "import socket, sys; s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=4); "
    "print(s.recv(200).decode().strip())"
)


def connect(host, address, port):
    """Connect from `host`; the probe's answer, or None when the connection fails."""
    out = host.run(f"timeout 10 python3 -c {shlex.quote(CLIENT)} {address} {port}")
    return out.stdout.strip() if out.rc == 0 else None


def start_probe(host, unit, ports):
    host.run(f"systemctl stop {unit}")
    host.check_output(f"cat > /root/{unit}.py <<'EOF'\n{PROBE}\nEOF")
    host.check_output(f"systemd-run --unit={unit} --collect python3 /root/{unit}.py {' '.join(map(str, ports))}")
    last = ports[-1]
    host.check_output(f"timeout 10 sh -c 'until ss -ltn | grep -q :{last}\\ ; do sleep 0.2; done'")


@pytest.fixture(scope="module")
def probes(lab):
    """Listeners: on cal (forwarded ports and one that is not), on ext (the internet)."""
    start_probe(lab("cal"), "imip-fw-probe", FORWARDED + [NOT_FORWARDED])
    start_probe(lab("ext"), "imip-fw-probe", [8081])
    yield
    for name in ("cal", "ext"):
        lab(name).run("systemctl stop imip-fw-probe")


@pytest.fixture
def public(address):
    return address("gw", "outside")


@pytest.mark.parametrize("port", FORWARDED)
def test_internet_reaches_forwarded_port_with_its_real_address(lab, address, public, probes, port):
    answer = connect(lab("ext"), public, port)
    assert answer == f"peer {address('ext')} port {port}", "DNAT to cal, and no masquerade of inbound traffic"


def test_port_that_is_not_forwarded_is_closed(lab, public, probes):
    assert connect(lab("ext"), public, NOT_FORWARDED) is None


def test_ssh_on_the_public_address_is_closed(lab, public):
    assert connect(lab("ext"), public, 22) is None


def test_internet_cannot_route_into_the_site(lab, address, public, probes, topology):
    """Even with a route to the inside network through gw, only forwarded traffic passes."""
    ext = lab("ext")
    inside = topology["networks"]["inside"]
    ext.check_output(f"ip route replace {inside} via {public}")
    try:
        for port in (22, 25, NOT_FORWARDED):
            assert connect(ext, address("cal"), port) is None, f"ext reached cal:{port} without DNAT"
    finally:
        ext.run(f"ip route del {inside}")


def test_hairpin_inside_host_reaches_the_public_address(lab, address, public, probes):
    answer = connect(lab("cal"), public, 25)
    assert answer == f"peer {address('gw')} port 25", "hairpin traffic is masqueraded to gw's inside address"


def test_inside_host_reaches_the_internet_as_the_public_address(lab, address, public, probes):
    assert connect(lab("cal"), address("ext"), 8081) == f"peer {public} port 8081"


def test_host_firewall_opens_only_the_served_ports(lab, address, probes):
    gw = lab("gw")
    assert connect(gw, address("cal"), 25) == f"peer {address('gw')} port 25"
    assert connect(gw, address("cal"), NOT_FORWARDED) is None, "cal's input policy drops what it does not serve"


@pytest.mark.parametrize("name", ["gw", "cal"])
def test_input_policy_is_drop_with_ssh_from_the_admin_sources(lab, address, name):
    chain = lab(name).check_output("nft list chain inet imip_filter input")
    assert "policy drop;" in chain
    net = address("gw", "outside").rsplit(".", 1)[0]
    assert f"ip saddr {{ {net}.1, {net}.129 }} tcp dport 22 accept" in chain


@pytest.mark.parametrize("name", ["gw", "cal"])
def test_ipv6_rules_are_present_and_the_file_is_valid(lab, name):
    """No IPv6 in the lab yet: presence of the rules and `nft -c` validity only."""
    host = lab(name)
    chain = host.check_output("nft list chain inet imip_filter input")
    assert "ip6 saddr fd42:6::/64 tcp dport 22 accept" in chain
    assert "icmpv6 type" in chain and "nd-neighbor-solicit" in chain
    assert host.run("nft -c -f /etc/imip/firewall.nft").rc == 0


def test_forward_filter_and_nat_on_the_gateway_only(lab):
    assert "chain forward" in lab("gw").check_output("nft list table inet imip_filter")
    assert lab("gw").run("nft list table ip imip_nat").rc == 0
    assert lab("cal").run("nft list table ip imip_nat").rc != 0
    assert "chain forward" not in lab("cal").check_output("nft list table inet imip_filter")


def test_unrelated_tables_survived(lab):
    """side_effect added these by hand on gw before a converge that changed the ruleset."""
    tables = lab("gw").check_output("nft list tables")
    assert "table ip nat" in tables and "table inet handmade" in tables


@pytest.mark.parametrize("name", ["gw", "cal"])
def test_never_flush_ruleset(lab, name):
    """Our file replaces our tables only: no `flush` statement, no table but ours."""
    statements = [line.strip() for line in lab(name).file("/etc/imip/firewall.nft").content_string.splitlines()
                  if line.strip() and not line.strip().startswith("#")]
    assert not [line for line in statements if line.startswith("flush")]
    tables = {" ".join(m.groups()) for m in map(re.compile(r"^(?:delete )?table (\S+) (\S+?)(?: \{)?$").match, statements) if m}
    assert tables == {"inet imip_filter", "ip imip_nat"}


def test_ip_forwarding_is_persisted(lab):
    gw = lab("gw")
    assert "net.ipv4.ip_forward = 1" in gw.file("/etc/sysctl.d/60-imip-firewall.conf").content_string
    assert gw.check_output("sysctl -n net.ipv4.ip_forward") == "1"
    assert not lab("cal").file("/etc/sysctl.d/60-imip-firewall.conf").exists


@pytest.mark.parametrize("name", ["gw", "cal"])
def test_no_rollback_is_pending(lab, name):
    assert lab(name).run("systemctl is-active imip-firewall-rollback.timer").stdout.strip() != "active"


def test_ruleset_is_loaded_at_boot(lab):
    """nftables.service is enabled and loads our file: restarting it (as at boot, with Debian's
    `flush ruleset` in /etc/nftables.conf) brings our tables back exactly."""
    cal = lab("cal")
    assert cal.check_output("systemctl is-enabled nftables") == "enabled"
    before = cal.check_output("nft -s list table inet imip_filter")
    cal.check_output("systemctl restart nftables")
    assert cal.check_output("nft -s list table inet imip_filter") == before
