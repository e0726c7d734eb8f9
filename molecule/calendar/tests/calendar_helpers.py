"""Constants of the calendar scenario's tests: its test passwords (from its inventory and ext's
shared settings) and the site's names. What every scenario's tests share (events, mailboxes,
replies, the gateway's status) is in molecule/_shared/tests/imip_lab_client.py; the fixtures are
in conftest.py.

A module of its own name, not conftest: linters resolve `from conftest import ...` to whichever
conftest.py they find first, and the gateway package has one too."""

import os
from pathlib import Path

import yaml

SCENARIO = Path(__file__).resolve().parents[1]
SHARED = SCENARIO.parent / "_shared" / "inventory" / "group_vars"
SITE_VARS = yaml.safe_load((SCENARIO / "inventory" / "hosts.yml").read_text())["all"]["hosts"]["aio"]
EXT_VARS = yaml.safe_load((SHARED / "vantage.yml").read_text())
PASSWORDS = {u["address"]: u["password"] for u in SITE_VARS["imip_mail_users"] + EXT_VARS["imip_mail_users"]}
PASSWORDS["calendar-invites@example.test"] = SITE_VARS["imip_invitation_password"]
SITE = "aio.example.test"
URL = f"https://{SITE}/"
INVITES = "calendar-invites@example.test"


def init_vault():
    """The secrets imip.server.init generated into the site's vault in prepare, decrypted with the
    scenario's test vault password (the test's eyes only: never printed)."""
    from ansible.parsing.vault import VaultLib, VaultSecret  # the controller's Ansible, as a user's

    vault = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "site" / "group_vars" / "all" / "vault.yml"
    secret = VaultSecret((SCENARIO / "vault-pass").read_bytes().strip())
    return yaml.safe_load(VaultLib([("default", secret)]).decrypt(vault.read_bytes()))
