"""Constants of the default scenario's tests: the site's names and the test passwords (from the
scenario's inventory and ext's shared settings). What every scenario's tests share (events,
mailboxes, replies) is in molecule/_shared/tests/imip_lab_client.py; the invitation round trip is the
collection's own (playbooks/check.yml -e imip_check_roundtrip=true).

A module of its own name, not conftest: linters resolve `from conftest import ...` to whichever
conftest.py they find first."""

import os
from pathlib import Path

import yaml

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
SHARED = SCENARIO.parent / "_shared" / "inventory" / "group_vars"
SITE_VARS = yaml.safe_load((SCENARIO / "inventory" / "hosts.yml").read_text())["all"]["children"]["mail_servers"]["vars"]
EXT_VARS = yaml.safe_load((SHARED / "vantage.yml").read_text())
DOMAIN = "example.test"
INVITES = f"calendar-invites@{DOMAIN}"
ALICE = f"alice@{DOMAIN}"
ATTENDEE = "attendee@external.test"
URL = f"https://cal.{DOMAIN}/"
# Every test password of the scenario, and the one the administrator sets by hand (side_effect).
PASSWORDS = {u["address"]: u["password"] for u in SITE_VARS["imip_mail_users"] + EXT_VARS["imip_mail_users"]}
PASSWORDS[INVITES] = SITE_VARS["imip_invitation_password"]
ADMIN_PASSWORD = SITE_VARS["imip_default_test_admin_password"]


def captured_dir():
    """Where side_effect keeps what the nested runs and the drift jobs printed."""
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "captured"
