"""The site is the one imip.server.init wrote (prepare.yml): its inventory converged, and what init
generated is what the site uses - the TSIG key in its vault is the one aio's name server takes
ACME DNS-01 updates with, for the challenge name init listed."""

import re
import shlex

from calendar_helpers import SITE, init_vault

CHALLENGE = f"_acme-challenge.{SITE}."


def test_named_uses_the_tsig_key_init_generated(lab):
    keys = lab("aio").run("cat /etc/bind/imip/keys.conf")
    assert keys.rc == 0, keys.stderr
    secrets = re.findall(r'secret "([^"]+)";', keys.stdout)
    # Compared, never printed: a failure names the key file, not its content.
    assert secrets == [init_vault()["vault_imip_dns_tsig_secret"]], "/etc/bind/imip/keys.conf holds another key"


def nsupdate(host, *commands):
    """Send one RFC 2136 update to aio's name server, signed with the key file named reads."""
    script = "server 127.0.0.1\n" + "".join(f"{command}\n" for command in commands) + "send\n"
    return host.run(f"printf '%s' {shlex.quote(script)} | nsupdate -k /etc/bind/imip/keys.conf")


def test_the_challenge_name_init_listed_takes_updates_signed_with_that_key(lab):
    aio = lab("aio")
    value = "imip-calendar-scenario-init-check"
    added = nsupdate(aio, f'update add {CHALLENGE} 60 TXT "{value}"')
    assert added.rc == 0, added.stderr
    try:
        seen = aio.run(f"dig @127.0.0.1 +short TXT {CHALLENGE}")
        assert f'"{value}"' in seen.stdout.split("\n"), seen.stdout
    finally:
        removed = nsupdate(aio, f"update delete {CHALLENGE} TXT")
        assert removed.rc == 0, removed.stderr
    assert aio.run(f"dig @127.0.0.1 +short TXT {CHALLENGE}").stdout.strip() == ""
