# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""imip.server.init (playbooks/init.yml) writes a new site's inventory that Ansible loads, that
site.yml's validation play accepts, and whose secrets stay in an encrypted vault file; a wrong
answer or an existing destination writes nothing. Run with the repository's real Ansible."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_collections.imip.server.plugins.module_utils.dns.inputs import tsig_errors

REPO = Path(__file__).resolve().parents[2]
# Runs the repository's own Ansible (.venv/bin): the compat stage deselects it (tests/unit/conftest.py).
pytestmark = pytest.mark.repository_ansible
GOOD = ["-e", "domain=example.net", "-e", "public_ipv4=203.0.113.9", "-e", "admin_sources=192.0.2.0/24,2001:db8::/48",
        "-e", "acme_terms_agreed=true"]


def ansible(tool, *args, cwd):
    # PWD as a shell sets it: init writes relative to the directory it is run in.
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"), PWD=str(cwd))
    proc = subprocess.run([str(REPO / ".venv" / "bin" / tool), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def init(workdir, *answers):
    return ansible("ansible-playbook", str(REPO / "playbooks" / "init.yml"), *answers, cwd=workdir)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("newcomer")
    rc, output = init(workdir, *GOOD)
    assert rc == 0, output
    inventory = workdir / "inventories" / "example.net"
    password_file = workdir / "inventories" / "example.net.vault-pass"
    rc, listed = ansible("ansible-inventory", "-i", str(inventory), "--vault-password-file", str(password_file),
                         "--host", "cal", cwd=REPO)
    assert rc == 0, listed
    return {"dir": inventory, "vault_pass": password_file, "output": output, "hostvars": json.loads(listed)}


def test_the_layout_is_all_in_one_with_acme_by_dns01(site):
    hosts = yaml.safe_load((site["dir"] / "hosts.yml").read_text())
    for group in ("dns_servers", "mail_servers", "calendar_servers"):
        assert list(hosts["all"]["children"][group]["hosts"]) == ["cal"]
    variables = site["hostvars"]
    assert variables["imip_domain"] == "example.net" and variables["imip_public_ipv4"] == "203.0.113.9"
    assert variables["imip_firewall_admin_sources"] == ["192.0.2.0/24", "2001:db8::/48"]
    assert variables["imip_tls_provider"] == "acme" and variables["imip_tls_acme_challenge"] == "dns-01"
    assert variables["imip_dns_acme_challenge_names"] == ["cal.example.net"]


def test_secrets_are_generated_into_an_encrypted_vault_only(site):
    vault = site["dir"] / "group_vars" / "all" / "vault.yml"
    assert vault.read_text().startswith("$ANSIBLE_VAULT;")
    assert stat.S_IMODE(site["vault_pass"].stat().st_mode) == 0o600
    assert stat.S_IMODE(vault.stat().st_mode) == 0o600
    # The vault password lives beside the inventory: Ansible reads every file inside it.
    assert site["vault_pass"].parent == site["dir"].parent
    rc, plain = ansible("ansible-vault", "view", "--vault-password-file", str(site["vault_pass"]), str(vault), cwd=REPO)
    assert rc == 0, plain
    secrets = yaml.safe_load(plain)
    assert len(secrets["vault_imip_invitation_password"]) == 32
    # BIND's own rule, through the dns role's check (named refused init's first keys: their last
    # base64 character carried spare bits).
    tsig = {"name": "imip-update", "algorithm": "hmac-sha256", "secret": secrets["vault_imip_dns_tsig_secret"]}
    assert tsig_errors(tsig) == []
    assert len(base64.b64decode(tsig["secret"])) >= 32
    everything = site["output"] + "".join(p.read_text() for p in site["dir"].rglob("*") if p.is_file() and p != vault)
    for value in [*secrets.values(), site["vault_pass"].read_text().strip()]:
        assert value not in everything


def test_the_validation_play_and_both_playbooks_accept_it(site):
    args = ["-i", str(site["dir"]), "--vault-password-file", str(site["vault_pass"])]
    rc, output = ansible("ansible-playbook", *args, "playbooks/validate.yml", cwd=REPO)
    assert rc == 0 and "skipping: [cal]" in output, output
    for playbook in ("site.yml", "playbooks/check.yml"):
        rc, output = ansible("ansible-playbook", *args, playbook, "--syntax-check", cwd=REPO)
        assert rc == 0, output


@pytest.mark.parametrize("answers,message", [
    (["-e", "public_ipv4=203.0.113.9", "-e", "admin_sources=192.0.2.0/24", "-e", "acme_terms_agreed=true"],
     "domain is required"),
    (["-e", "domain=example..org", "-e", "public_ipv4=203.0.113.9", "-e", "admin_sources=192.0.2.0/24",
      "-e", "acme_terms_agreed=true"], "imip_domain: 'example..org' is not a domain name: empty label"),
    (["-e", "domain=example.net", "-e", "public_ipv4=203.0.113.300", "-e", "admin_sources=192.0.2.0/24",
      "-e", "acme_terms_agreed=true"], "imip_public_ipv4: '203.0.113.300' is not an IPv4 address"),
    (["-e", "domain=example.net", "-e", "public_ipv4=203.0.113.9", "-e", "acme_terms_agreed=true"],
     "admin_sources is required"),
    (["-e", "domain=example.net", "-e", "public_ipv4=203.0.113.9", "-e", "admin_sources=192.0.2.1/24",
      "-e", "acme_terms_agreed=true"], "imip_firewall_admin_sources[0]: '192.0.2.1/24' has host bits set"),
    (["-e", "domain=example.net", "-e", "public_ipv4=203.0.113.9", "-e", "admin_sources=192.0.2.0/24"],
     "tls=acme needs -e acme_terms_agreed=true"),
])
def test_a_wrong_answer_writes_nothing(tmp_path, answers, message):
    rc, output = init(tmp_path, *answers)
    assert rc != 0 and message in output, output
    assert "nothing was written" in output
    assert list(tmp_path.iterdir()) == []


def test_an_existing_inventory_is_never_overwritten(tmp_path):
    existing = tmp_path / "inventories" / "example.net"
    existing.mkdir(parents=True)
    (existing / "hosts.yml").write_text("mine\n")
    rc, output = init(tmp_path, *GOOD)
    assert rc != 0 and "exists; nothing was written" in output, output
    assert (existing / "hosts.yml").read_text() == "mine\n"
    assert sorted(p.name for p in (tmp_path / "inventories").iterdir()) == ["example.net"]


def test_site_ca_needs_no_acme_terms(tmp_path):
    rc, output = init(tmp_path, "-e", "domain=example.net", "-e", "public_ipv4=203.0.113.9",
                      "-e", "admin_sources=192.0.2.0/24", "-e", "tls=site_ca", "-e", "host=mail", "-e", "dest=site")
    assert rc == 0, output
    tls = yaml.safe_load((tmp_path / "site" / "group_vars" / "all" / "tls.yml").read_text())
    assert tls["imip_tls_provider"] == "site_ca"
    assert (tmp_path / "site" / "host_vars" / "mail.yml").is_file()
    assert (tmp_path / "site.vault-pass").is_file()


def test_every_variable_it_writes_is_a_role_option(site):
    declared = set()
    for path in REPO.glob("roles/*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(path.read_text())["argument_specs"].values():
            declared |= set(entry.get("options") or {})
    written = {name for name in site["hostvars"] if name.startswith("imip_")}
    assert written and written <= declared, f"not options of any role: {sorted(written - declared)}"


def test_the_postmaster_alias_points_at_the_first_mailbox_but_never_at_itself(site, tmp_path):
    assert site["hostvars"]["imip_mail_aliases"] == {"postmaster@example.net": "admin@example.net"}
    rc, output = init(tmp_path, *GOOD, "-e", "mail_user=postmaster")
    assert rc == 0, output
    rc, listed = ansible("ansible-inventory", "-i", str(tmp_path / "inventories" / "example.net"),
                         "--vault-password-file", str(tmp_path / "inventories" / "example.net.vault-pass"),
                         "--host", "cal", cwd=REPO)
    assert rc == 0, listed
    variables = json.loads(listed)
    assert variables["imip_mail_users"][0]["address"] == "postmaster@example.net"
    assert variables["imip_mail_aliases"] == {}


def _without_secrets(variables):
    """A site's variables with the secrets left out (their values differ by design, and the vault's
    variable names with them): vault_* variables and the users' password fields."""
    out = {k: v for k, v in variables.items() if not k.startswith("vault_")}
    out["imip_mail_users"] = [{k: v for k, v in user.items() if k != "password"} for user in out.get("imip_mail_users", [])]
    return out


def test_init_with_the_examples_answers_writes_the_all_in_one_example(tmp_path):
    """init's templates and inventories/examples/all-in-one describe one layout: given the
    example's answers, init writes the example's variables (secrets aside). The example may also
    spell out a role default for the reader, with the role's own value."""
    rc, output = init(tmp_path, "-e", "domain=example.org", "-e", "public_ipv4=203.0.113.7",
                      "-e", "admin_sources=192.0.2.0/24,2001:db8:1::/48", "-e", "acme_terms_agreed=true",
                      "-e", "mail_user=alice")
    assert rc == 0, output
    rc, written = ansible("ansible-inventory", "-i", str(tmp_path / "inventories" / "example.org"),
                          "--vault-password-file", str(tmp_path / "inventories" / "example.org.vault-pass"),
                          "--host", "cal", cwd=REPO)
    assert rc == 0, written
    rc, example = ansible("ansible-inventory", "-i", str(REPO / "inventories" / "examples" / "all-in-one"),
                          "--host", "cal", cwd=REPO)
    assert rc == 0, example
    written, example = _without_secrets(json.loads(written)), _without_secrets(json.loads(example))
    defaults = {}
    for path in (REPO / "roles").glob("*/defaults/main.yml"):
        defaults.update(yaml.safe_load(path.read_text()) or {})
    spelled_out = {k: v for k, v in example.items() if k not in written}
    assert {k: v for k, v in spelled_out.items() if defaults.get(k) != v} == {}
    assert {k: example[k] for k in written if k in example} == {k: v for k, v in written.items() if k in example}
    assert sorted(set(written) - set(example)) == []
