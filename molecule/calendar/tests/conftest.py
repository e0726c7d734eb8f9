"""The calendar scenario's site, for the fixtures in molecule/conftest.py (a CalDAV client as a
user's calendar application, HTTP to the site): aio is the site's name server and CalDAV server,
and the test passwords come from the scenario's inventory (calendar_helpers.py). aio and ext
are the scenario's two hosts (the site, and the internet with the attendee's mailbox)."""

import pytest

from calendar_helpers import PASSWORDS, URL


@pytest.fixture(scope="session")
def site_nameserver():
    return "aio"


@pytest.fixture(scope="session")
def site_url():
    return URL


@pytest.fixture(scope="session")
def site_passwords():
    return PASSWORDS


@pytest.fixture(scope="session")
def aio(lab):
    return lab("aio")


@pytest.fixture(scope="session")
def ext(lab):
    return lab("ext")
