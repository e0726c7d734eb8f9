"""The contract between the collection and the gateway is files: the ini file the
imip_gateway role writes and the keychain items the invitation_account role writes (through
imip.server.keychain_item), which the unit hands over as systemd credentials. These tests read
the collection's own files; the gateway itself never imports anything from the collection."""

import importlib
import re
import sys
from pathlib import Path

import pytest

from imip_gateway import config, credentials

COLLECTION = Path(__file__).resolve().parents[2]   # gateway/ sits at the collection's top level
TEMPLATE = COLLECTION / "roles/imip_gateway/templates/etc/imip-gateway/gateway.ini.j2"


def template_keys() -> dict[str, set[str]]:
    sections: dict[str, set[str]] = {}
    current = None
    for line in TEMPLATE.read_text().splitlines():
        header = re.match(r"^\[(\w+)\]\s*$", line)
        if header:
            current = sections.setdefault(header.group(1), set())
            continue
        key = re.match(r"^(\w+)\s*=", line)
        if key and current is not None:
            current.add(key.group(1))
    return sections


def test_role_template_writes_only_known_keys_and_every_required_one():
    written = template_keys()
    assert set(written) == set(config.SCHEMA), "sections differ from imip_gateway.config.SCHEMA"
    for section, keys in written.items():
        unknown = keys - set(config.SCHEMA[section])
        assert not unknown, f"the role writes [{section}] {sorted(unknown)}, which the gateway rejects"
        required = {k for k, (_parse, default) in config.SCHEMA[section].items() if default is config.REQUIRED}
        assert required <= keys, f"the role does not write required [{section}] {sorted(required - keys)}"


def test_role_template_names_the_keychain_items_the_invitation_account_writes():
    """The items are named once (role site_facts, read by invitation_account and imip_gateway); by
    default they are the gateway's own default credential names."""
    text = TEMPLATE.read_text()
    facts = (COLLECTION / "roles/site_facts/defaults/main.yml").read_text()
    for section in ("smtp", "imap", "caldav"):
        variable = f"imip_invitation_account_{section}_item"
        assert f"password_credential = {{{{ {variable} }}}}" in text
        default = config.SCHEMA[section]["password_credential"][1]
        assert re.search(rf"^{variable}: {re.escape(default)}$", facts, re.M), f"{variable} is not {default} by default"


@pytest.fixture
def keychain_module(tmp_path, monkeypatch):
    """imip.server's keychain (module_utils/_keychain.py, stdlib only) imported from this checkout."""
    root = tmp_path / "collections"
    (root / "ansible_collections" / "imip").mkdir(parents=True)
    (root / "ansible_collections" / "imip" / "server").symlink_to(COLLECTION)
    monkeypatch.syspath_prepend(str(root))
    for name in [n for n in sys.modules if n.startswith("ansible_collections")]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module("ansible_collections.imip.server.plugins.module_utils._keychain")


@pytest.mark.parametrize("secret", ["plain-Secret-1", "pässwörd with spaces", "ends-with-newline\n"])
def test_keychain_file_item_reads_back_as_the_credential(keychain_module, tmp_path, monkeypatch, secret):
    store = tmp_path / "credstore"
    keychain = keychain_module.Keychain(backend="file", path=str(store))
    keychain.write("imip-gateway.smtp", secret)
    # LoadCredential=imip-gateway.smtp:<item> puts the file's bytes into $CREDENTIALS_DIRECTORY.
    creds = tmp_path / "run-credentials"
    creds.mkdir()
    (creds / "imip-gateway.smtp").write_bytes((store / "imip-gateway.smtp").read_bytes())
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert credentials.read_secret("imip-gateway.smtp") == secret.removesuffix("\n")
    assert keychain.read("imip-gateway.smtp") == credentials.read_secret("imip-gateway.smtp")
