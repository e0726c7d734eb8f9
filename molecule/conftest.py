"""Shared fixtures for the Molecule scenarios' testinfra tests.

Tests talk to the hosts as `podman://imip-<lab>-<host>` (about ten times faster than going
through Ansible for each command). They run under `molecule verify`, or by hand against any
lab this repository built:

    IMIP_LAB_TOPOLOGY=inventories/lab/.lab/topology.json pytest molecule/tls/tests

The topology file is written by tools/lab/create.yml and names the lab, its hosts and addresses.
"""

import json
import os
from pathlib import Path

import pytest
import testinfra


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
