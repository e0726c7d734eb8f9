"""The default scenario's site, for the fixtures in molecule/conftest.py (a CalDAV client as a
user's calendar application on the site's network): ns1 is the site's name server, cal the
CalDAV server, and the test passwords come from the scenario's inventory (default_scenario.py)."""

import pytest

from default_scenario import PASSWORDS, URL


@pytest.fixture(scope="session")
def site_nameserver():
    return "ns1"


@pytest.fixture(scope="session")
def site_url():
    return URL


@pytest.fixture(scope="session")
def site_passwords():
    return PASSWORDS
