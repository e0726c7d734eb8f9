"""Fixtures of the calendar scenario: a CalDAV client as a user's calendar application would be
(plain helpers and constants are in calendar_helpers.py).

The client runs on the controller and finds the site the way a user's machine would: names are
resolved through the site's own name server (aio), and TLS is verified against the site CA."""

import os
import socket
from pathlib import Path

import caldav
import dns.resolver
import niquests
import pytest

from calendar_helpers import PASSWORDS, URL


def _topology_dir():
    if os.environ.get("IMIP_LAB_TOPOLOGY"):
        return Path(os.environ["IMIP_LAB_TOPOLOGY"]).parent
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory" / ".lab"


@pytest.fixture(scope="session", autouse=True)
def site_names(address):
    """Resolve example.test and external.test names through aio's name server, as a client of the
    site does (nothing is added to the controller's /etc/hosts)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [address("aio")]
    resolver.lifetime = 5
    original = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith((".example.test", ".external.test")):
            host = resolver.resolve(host, "A")[0].address
        return original(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    yield
    socket.getaddrinfo = original


@pytest.fixture(scope="session")
def ca_file():
    path = _topology_dir().parent / ".tls-ca" / "ca.pem"
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
def http(ca_file):
    return _Site(ca_file)


@pytest.fixture(scope="session")
def calendar_of(ca_file):
    """calendar_of("alice@example.test") -> that user's calendar "work" (created once)."""
    cache = {}

    def get(user):
        if user not in cache:
            client = caldav.DAVClient(url=URL, username=user, password=PASSWORDS[user], ssl_verify_cert=ca_file)
            principal = client.principal()
            found = [c for c in principal.calendars() if c.url.path.rstrip("/").endswith("/work")]
            cache[user] = found[0] if found else principal.make_calendar(name="work", cal_id="work")
        return cache[user]

    return get
