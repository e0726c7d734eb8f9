"""The documented example inventories (inventories/examples/*) work as a user copies them.

Each one is read by the real Ansible of the repository's .venv (`ansible-inventory --list`,
`ansible-playbook --list-hosts` and `--syntax-check`, an ad-hoc `debug` that renders every
variable it sets), and the test asserts what a user relies on: the roles of site.yml run on the
hosts the example says, every variable it sets is one a role declares (a misspelt name would be
silently ignored by the roles), each role's required options are set where it runs, and the
addresses fit the shape the example documents (one host with the public address, one host
behind a router nobody manages, split hosts behind a router Ansible manages).
"""

import functools
import ipaddress
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# Runs the repository's own Ansible (.venv/bin): the compat stage deselects it (tests/unit/conftest.py).
pytestmark = pytest.mark.repository_ansible
BIN = REPO / ".venv" / "bin"
EXAMPLES_DIR = REPO / "inventories" / "examples"
EXAMPLES = {"all-in-one", "home-router", "split-hosts"}
SITE_GROUPS = ("gateways", "dns_servers", "mail_servers", "calendar_servers")
# Variables an inventory may set that are not role options: how Ansible connects and becomes
# root, the lab's own settings (read by tools/lab, never by the roles), and vault_* values that
# other variables refer to (checked apart: each must be used, and each use defined).
CONNECTION = re.compile(r"^ansible_(host|port|user|become_password|become_method|become_user|python_interpreter"
                        r"|ssh_private_key_file|ssh_common_args|ssh_extra_args|connection)$")
VAULT_REF = re.compile(r"\bvault_[a-z0-9_]+")
# Addresses a home or office network uses (RFC 1918); documentation ranges such as 203.0.113.0/24
# stand for public addresses in the examples.
RFC1918 = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def rfc1918(address):
    return any(address in net for net in RFC1918)


def _env():
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"))
    return env


def run(tool, *args, **env):
    path = BIN / tool
    assert path.exists(), f"{path} is missing: run `make venv` (the test uses the repository's pinned Ansible)"
    result = subprocess.run([str(path), *args], cwd=REPO, env={**_env(), **env}, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, f"{tool} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_documented_examples_exist():
    found = {p.name for p in EXAMPLES_DIR.iterdir() if p.is_dir()}
    assert found == EXAMPLES, f"inventories/examples holds {sorted(found)}; README and this test document {sorted(EXAMPLES)}"


# --- what the collection declares ---------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def role_specs():
    """{role: {option: spec}} over every entry point of every role."""
    specs = {}
    for path in sorted(REPO.glob("roles/*/meta/argument_specs.yml")):
        options = {}
        for entry in yaml.safe_load(path.read_text())["argument_specs"].values():
            options.update(entry.get("options") or {})
        specs[path.parts[-3]] = options
    return specs


def role_dependencies(role):
    meta = yaml.safe_load((REPO / "roles" / role / "meta" / "main.yml").read_text()) or {}
    names = [d["role"] if isinstance(d, dict) else d for d in meta.get("dependencies") or []]
    return [n.split(".")[-1] for n in names]


@functools.lru_cache(maxsize=None)
def site_plays():
    """[(play name, [roles, dependencies first])] in the order playbooks/site.yml runs them."""
    plays = []
    for item in yaml.safe_load((REPO / "playbooks" / "site.yml").read_text()):
        for play in yaml.safe_load((REPO / "playbooks" / item["ansible.builtin.import_playbook"]).read_text()):
            roles = []
            for role in play.get("roles", []):  # the validation play runs no role
                name = (role["role"] if isinstance(role, dict) else role).split(".")[-1]
                roles += role_dependencies(name) + [name]
            plays.append((play["name"], roles))
    return plays


# --- what Ansible makes of each example ---------------------------------------------------------

@functools.lru_cache(maxsize=None)
def inventory(name):
    return json.loads(run("ansible-inventory", "-i", f"inventories/examples/{name}", "--list"))


def hostvars(name):
    return inventory(name)["_meta"]["hostvars"]


def group(name, group_name):
    return inventory(name).get(group_name, {}).get("hosts", [])


@functools.lru_cache(maxsize=None)
def rendered(name):
    """{host: {"fqdn": ..., "vars": {every variable the inventory sets, rendered by Ansible}}}.

    Rendering proves every template resolves (a misspelt vault_* name fails here)."""
    names = {host: sorted(v) for host, v in hostvars(name).items()}
    out = run("ansible", "-i", f"inventories/examples/{name}", "all", "-m", "ansible.builtin.debug",
              "-e", json.dumps({"__example_names": names}),
              "-a", 'msg={{ {"fqdn": inventory_hostname | imip.server.host_fqdn(hostvars), "vars": '
                    'dict(__example_names[inventory_hostname] | zip(lookup("ansible.builtin.vars", '
                    '*__example_names[inventory_hostname], wantlist=True)))} }}',
              ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    results = json.loads(out)["plays"][0]["tasks"][0]["hosts"]
    failed = {h: r.get("msg") for h, r in results.items() if r.get("failed")}
    assert not failed, f"{name}: variables that do not render: {failed}"
    return {host: r["msg"] for host, r in results.items()}


@functools.lru_cache(maxsize=None)
def play_hosts(name):
    """[(play name as Ansible renders it, [hosts])] in the order site.yml runs its plays."""
    out = run("ansible-playbook", "-i", f"inventories/examples/{name}", "site.yml", "--list-hosts")
    plays = []
    for line in out.splitlines():
        match = re.match(r"\s+play #\d+ \(.*?\): (.*?)\tTAGS:", line)
        if match:
            plays.append((match.group(1), []))
        elif plays and re.match(r"^ {6}\S+$", line):
            plays[-1][1].append(line.strip())
    return plays


def role_hosts(name):
    """{role: set of hosts it runs on} for site.yml."""
    hosts = {}
    resolved = play_hosts(name)
    plays = site_plays()
    # Play names are templates (they list the hosts), so plays are matched by their order.
    assert len(resolved) == len(plays), f"{name}: --list-hosts shows {len(resolved)} plays, site.yml has {len(plays)}"
    for (play, roles), (shown, play_hosts_) in zip(plays, resolved):
        assert shown.split(" on ")[0] == play.split(" on ")[0], f"{name}: play {play!r} shown as {shown!r}"
        for role in roles:
            hosts.setdefault(role, set()).update(play_hosts_)
    return hosts


def ipv4(value, what):
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        pytest.fail(f"{what}: {value!r} is not an IPv4 address")


# --- for every example ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_site_yml_syntax_check(name):
    run("ansible-playbook", "-i", f"inventories/examples/{name}", "site.yml", "--syntax-check")


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_variable_is_declared_by_a_role(name):
    declared = set().union(*role_specs().values())
    vault_defined, vault_used, unknown = set(), set(), {}
    for host, variables in hostvars(name).items():
        for var, value in variables.items():
            vault_used.update(VAULT_REF.findall(json.dumps(value)))
            if var.startswith("vault_"):
                vault_defined.add(var)
            elif var not in declared and not CONNECTION.match(var):
                unknown.setdefault(var, []).append(host)
    assert not unknown, f"{name}: variables no role declares (misspelt?): {unknown}"
    assert vault_used <= vault_defined, f"{name}: vault variables used but not in vault.yml: {vault_used - vault_defined}"
    assert vault_defined <= vault_used, f"{name}: vault variables nothing uses: {vault_defined - vault_used}"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_roles_required_options_are_set_where_they_run(name):
    hosts_of = role_hosts(name)
    values = rendered(name)
    missing = []
    for role, hosts in hosts_of.items():
        required = [o for o, spec in role_specs()[role].items() if spec.get("required")]
        for host in hosts:
            missing += [f"{role} on {host}: {o}" for o in required if values[host]["vars"].get(o) in (None, "", [])]
    assert not missing, f"{name}: required options not set: {missing}"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_validation_play_checks_each_host_for_the_roles_it_runs(name):
    """The validation play knows which roles a host runs from its groups (_site_validation.ROLE_GROUPS);
    site.yml's playbooks say the same by their `hosts:`, and the two must agree."""
    from ansible_collections.imip.server.plugins.module_utils import _site_validation

    runs = {}
    for role, hosts in role_hosts(name).items():
        for host in hosts:
            runs.setdefault(host, set()).add(role)
    groups = {g: set(v.get("hosts", [])) for g, v in inventory(name).items() if g != "_meta"}
    for host, roles in runs.items():
        group_names = sorted(g for g, members in groups.items() if host in members and g not in ("all", "ungrouped"))
        assert set(_site_validation.roles_of(group_names)) == roles, f"{name}: {host} in {group_names}"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_role_runs_and_site_hosts_have_addresses(name):
    hosts_of = role_hosts(name)
    values = rendered(name)
    for role in ("firewall", "dns", "tls", "mail", "invitation_account", "calendar", "imip_gateway"):
        assert hosts_of.get(role), f"{name}: site.yml runs the {role} role on no host"
    for host in set().union(*(group(name, g) for g in SITE_GROUPS)):
        v = values[host]["vars"]
        # The dns role publishes it, the firewall forwards to it, Ansible connects to it.
        ipv4(v.get("imip_host_ipv4"), f"{name}: {host}'s imip_host_ipv4")
        assert v.get("ansible_host"), f"{name}: {host} has no ansible_host (where Ansible connects)"
        domain = v["imip_domain"]
        fqdn = values[host]["fqdn"]
        assert fqdn.endswith("." + domain) and not fqdn.endswith(f".{domain}.{domain}"), (
            f"{name}: {host}'s DNS name comes out as {fqdn!r}: name the host without the domain, or set imip_host_fqdn")
    ipv4(values[next(iter(values))]["vars"].get("imip_public_ipv4"), f"{name}: imip_public_ipv4")


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_real_host_connection_as_ordinary_user_with_sudo(name):
    for host, v in rendered(name).items():
        v = v["vars"]
        assert v.get("ansible_user") not in (None, "", "root"), f"{name}: {host} must connect as an ordinary user"
        assert v.get("ansible_become_method", "sudo") == "sudo", f"{name}: {host} becomes root through sudo"
    for host, raw in hostvars(name).items():
        if "ansible_become_password" in raw:
            assert VAULT_REF.search(str(raw["ansible_become_password"])), (
                f"{name}: {host}'s ansible_become_password must come from the vault")
    for play in yaml.safe_load((REPO / "playbooks" / "site.yml").read_text()):
        for p in yaml.safe_load((REPO / "playbooks" / play["ansible.builtin.import_playbook"]).read_text()):
            if not p.get("roles"):
                continue  # the validation play runs on the controller and changes nothing
            assert p.get("become") is True, f"{p['name']}: the example inventories rely on the playbooks' become: true"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_acme_dns01_can_work(name):
    """With Let's Encrypt by DNS-01, every certificate host's name is a challenge zone on the
    name server, which takes updates with the same TSIG key the certificate host signs with."""
    values = rendered(name)
    dns = group(name, "dns_servers")
    for host, v in values.items():
        v = v["vars"]
        if v.get("imip_tls_provider") != "acme" or v.get("imip_tls_certificate_enabled") is False:
            continue
        assert v.get("imip_tls_acme_terms_agreed") is True, f"{name}: {host}: imip_tls_acme_terms_agreed must be true"
        assert v.get("imip_tls_acme_challenge", "dns-01") == "dns-01"
        assert dns, f"{name}: {host} wants DNS-01 but no dns_servers host takes the updates"
        ns = values[dns[0]]["vars"]
        assert values[host]["fqdn"] in ns.get("imip_dns_acme_challenge_names", []), (
            f"{name}: {host} ({values[host]['fqdn']}) gets an ACME certificate by DNS-01, but {dns[0]}'s "
            f"imip_dns_acme_challenge_names does not list it; or set imip_tls_certificate_enabled: false")
        assert v.get("imip_dns_tsig_key") and v["imip_dns_tsig_key"] == ns.get("imip_dns_tsig_key"), (
            f"{name}: {host} and {dns[0]} must see the same imip_dns_tsig_key")


# --- the shape each example documents -------------------------------------------------------------

def test_all_in_one_holds_the_public_address():
    values = rendered("all-in-one")
    assert not group("all-in-one", "gateways")
    (host,) = values
    for g in ("dns_servers", "mail_servers", "calendar_servers"):
        assert group("all-in-one", g) == [host]
    v = values[host]["vars"]
    assert v["imip_host_ipv4"] == v["imip_public_ipv4"]
    assert v["imip_dns_views_enabled"] is False, "one address: one DNS view"


def test_home_router_host_is_private_behind_an_unmanaged_router():
    values = rendered("home-router")
    assert not group("home-router", "gateways"), "nobody manages the home router with Ansible"
    (host,) = values
    for g in ("dns_servers", "mail_servers", "calendar_servers"):
        assert group("home-router", g) == [host]
    v = values[host]["vars"]
    inside = ipv4(v["imip_host_ipv4"], "imip_host_ipv4")
    public = ipv4(v["imip_public_ipv4"], "imip_public_ipv4")
    assert rfc1918(inside) and not rfc1918(public), f"inside {inside} must be RFC 1918, public {public} not"
    # Views on: inside clients (the home network) get the private address, the outside the public one.
    assert v.get("imip_dns_views_enabled", True) is True
    inside_nets = [ipaddress.ip_network(c) for c in v["imip_dns_inside_clients"] if c != "localhost"]
    assert any(inside in net and net.prefixlen < 32 for net in inside_nets), (
        f"the home network around {inside} must see the inside view: {v['imip_dns_inside_clients']}")
    assert v.get("imip_firewall_nat_enabled", False) is False
    # The forwards the user sets on the router by hand are listed: one per port the host serves.
    comments = (EXAMPLES_DIR / "home-router" / "group_vars" / "all" / "firewall.yml").read_text()
    for port in ("TCP 25 ", "TCP 587 ", "TCP 993 ", "TCP 443 ", "TCP 53, UDP 53"):
        assert port in comments, f"home-router/group_vars/all/firewall.yml does not tell the user to forward {port}"


def test_split_hosts_router_forwards_to_separate_hosts():
    values = rendered("split-hosts")
    hosts_of = role_hosts("split-hosts")
    (gw,) = group("split-hosts", "gateways")
    (ns,) = group("split-hosts", "dns_servers")
    mail = group("split-hosts", "mail_servers")
    assert mail == group("split-hosts", "calendar_servers") and len(mail) == 1
    assert len({gw, ns, mail[0]}) == 3, "router, name server and mail+calendar are three hosts"
    assert hosts_of["dns"] == {ns} and hosts_of["mail"] == set(mail) and hosts_of["firewall"] == {gw, ns, mail[0]}
    g = values[gw]["vars"]
    assert ipv4(g["imip_public_ipv4"], "imip_public_ipv4") != ipv4(g["imip_host_ipv4"], "gw imip_host_ipv4")
    assert not rfc1918(ipv4(g["imip_public_ipv4"], "imip_public_ipv4"))
    inside = [ipv4(values[h]["vars"]["imip_host_ipv4"], h) for h in (gw, ns, mail[0])]
    assert all(rfc1918(a) for a in inside), f"inside addresses: {inside}"
    assert len(set(inside)) == 3
