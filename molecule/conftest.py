"""Shared fixtures for the Molecule scenarios' testinfra tests.

Tests talk to the hosts as `podman://imip-<lab>-<host>` (about ten times faster than going
through Ansible for each command). They run under `molecule verify`, or by hand against any
lab this repository built:

    IMIP_LAB_TOPOLOGY=inventories/lab/.lab/topology.json pytest molecule/tls/tests

The topology file is written by tools/lab/create.yml and names the lab, its hosts and addresses.
What the scenarios' tests share beyond these fixtures (events, mailboxes, replies, the gateway's
status) is the module imip_lab_client in _shared/tests/, which this file puts on the import path;
the invitation round trip is the collection's own (playbooks/check.yml -e imip_check_roundtrip=true).
"""

import json
import os
import sys
from pathlib import Path

import niquests
import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parent / "_shared" / "tests"))
# The import needs the path above.
import imip_lab_client  # noqa: E402  pylint: disable=wrong-import-position


def _topology_path():
    if os.environ.get("IMIP_LAB_TOPOLOGY"):
        return Path(os.environ["IMIP_LAB_TOPOLOGY"])
    ephemeral = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    if not ephemeral:
        raise pytest.UsageError("set IMIP_LAB_TOPOLOGY=<inventory>/.lab/topology.json (or run under molecule)")
    return Path(ephemeral) / "inventory" / ".lab" / "topology.json"


@pytest.fixture(scope="session")
def topology():
    """The lab as built: {name, range, networks, hosts: {name: {hostname, interfaces, ...}}}."""
    return json.loads(_topology_path().read_text())


@pytest.fixture(scope="session")
def lab(topology):
    """lab("cal") -> a testinfra host for that lab host."""
    os.environ.setdefault("CONTAINERS_CONF", str(Path(__file__).resolve().parents[1] / "tools/lab/containers.conf"))
    cache = {}

    def get(name):
        if name not in topology["hosts"]:
            raise KeyError(f"no host {name!r} in lab {topology['name']} (has {sorted(topology['hosts'])})")
        if name not in cache:
            cache[name] = testinfra.get_host(f"podman://imip-{topology['name']}-{name}")
        return cache[name]

    return get


@pytest.fixture(scope="session")
def address(topology):
    """address("cal") -> the host's first address (inside before outside)."""

    def get(name, network=None):
        interfaces = topology["hosts"][name]["interfaces"]
        if network:
            return interfaces[network]
        return interfaces.get("inside") or interfaces["outside"]

    return get


# ---------------------------------------------------------------- the site as a user's machine sees it
# A scenario's conftest.py says which lab host is the site's name server (site_nameserver), the
# CalDAV URL (site_url) and its test passwords (site_passwords); these fixtures do the rest.
@pytest.fixture(scope="session")
def site_nameserver():
    raise pytest.UsageError("this scenario's conftest.py defines no site_nameserver fixture (the lab host that serves DNS)")


@pytest.fixture(scope="session")
def site_url():
    raise pytest.UsageError("this scenario's conftest.py defines no site_url fixture (the CalDAV URL)")


@pytest.fixture(scope="session")
def site_passwords():
    raise pytest.UsageError("this scenario's conftest.py defines no site_passwords fixture ({address: password})")


@pytest.fixture(scope="session")
def site_names(site_nameserver, address):
    """Names of the lab resolve through the site's own name server, as for a client of the site
    (nothing is added to the controller's /etc/hosts)."""
    with imip_lab_client.resolve_through(address(site_nameserver)):
        yield


@pytest.fixture(scope="session")
def ca_file(topology):
    """The site CA, which the tls role keeps beside the inventory."""
    path = Path(topology["state_dir"]).parent / ".tls-ca" / "ca.pem"
    assert path.is_file(), f"no site CA at {path}"
    return str(path)


class _Site:
    """HTTP to the site, TLS verified against the site CA."""

    def __init__(self, ca_file):
        self.ca_file = ca_file

    def request(self, method, url, **kwargs):
        return niquests.request(method, url, verify=self.ca_file, timeout=30, **kwargs)

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)


@pytest.fixture(scope="session")
def http(ca_file, site_names):
    return _Site(ca_file)


@pytest.fixture(scope="session")
def calendar_of(ca_file, site_names, site_url, site_passwords):
    """calendar_of("alice@example.test") -> that user's calendar "work" (created once)."""
    cache = {}

    def get(user):
        if user not in cache:
            cache[user] = imip_lab_client.work_calendar(site_url, user, site_passwords[user], ca_file)
        return cache[user]

    return get
