"""Secrets from systemd credentials ($CREDENTIALS_DIRECTORY/<name>), and from nowhere else.

The unit loads them with LoadCredentialEncrypted=; a secret never comes from the environment,
the command line or the config file, so it cannot leak through `ps`, `systemctl show` or a
world-readable file.
"""

from __future__ import annotations

import os
from pathlib import Path


class CredentialError(Exception):
    """A credential could not be read; the message names it and says what is expected."""


def credentials_directory() -> Path:
    value = os.environ.get("CREDENTIALS_DIRECTORY", "")
    if not value:
        raise CredentialError(
            "$CREDENTIALS_DIRECTORY is not set: run imip-gateway from its systemd unit, which loads "
            "the secrets with LoadCredentialEncrypted=")
    return Path(value)


def read_secret(name: str) -> str:
    """Return the secret stored in credential `name`, minus exactly one trailing newline."""
    if not name or "/" in name or name in (".", ".."):
        raise CredentialError(f"credential name {name!r} is not a plain file name")
    path = credentials_directory() / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CredentialError(
            f"credential {name} not found in $CREDENTIALS_DIRECTORY ({path}); expected "
            f"LoadCredentialEncrypted={name}:... in the unit") from None
    except OSError as exc:
        raise CredentialError(f"credential {name} cannot be read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialError(f"credential {name} is not UTF-8 text") from None
    if text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise CredentialError(f"credential {name} is empty")
    return text
