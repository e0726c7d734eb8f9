"""The gateway's configuration: /etc/imip-gateway/gateway.ini (written by the role, no secrets).

Every key is declared once in SCHEMA with its type and default; `load()` validates the whole
file before anything runs and raises ConfigError naming the file, section and key, and what was
expected. Unknown sections and keys are errors too (a typo must not silently become a default).
"""

from __future__ import annotations

import configparser
import ipaddress
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from imip_gateway import addresses

DEFAULT_PATH = Path("/etc/imip-gateway/gateway.ini")

_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


class ConfigError(Exception):
    """The configuration is unusable; the message says where and what is expected."""


# ---------------------------------------------------------------- value parsers
def _text(value: str) -> str:
    return value.strip()


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            raise ValueError(f"expected an integer from {low} to {high}, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"expected an integer from {low} to {high}, got {number}")
        return number
    return parse


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return lowered
    return parse


def _domains(value: str) -> tuple[str, ...]:
    items = tuple(item.strip().lower().rstrip(".") for item in value.split(",") if item.strip())
    for item in items:
        if not _DOMAIN.match(item):
            raise ValueError(f"expected a comma-separated list of domain names, {item!r} is not one")
    return items


def _names(value: str) -> tuple[str, ...]:
    items = tuple(item.strip().lower() for item in value.split(",") if item.strip())
    for item in items:
        if not _NAME.match(item):
            raise ValueError(f"expected a comma-separated list of user names or addresses, got {item!r}")
    return items


def _absolute_path(value: str) -> Path | None:
    value = value.strip()
    if not value:
        return None
    path = Path(value)
    if not path.is_absolute():
        raise ValueError(f"expected an absolute path, got {value!r}")
    return path


def _address(value: str) -> str:
    value = value.strip()
    if not addresses.is_invitation_address(value):
        raise ValueError(f"expected an email address like calendar-invites@example.test, got {value!r}")
    local, domain = addresses.split_address(value)
    return f"{local}@{domain.lower()}"


def _credential(value: str) -> str:
    value = value.strip()
    if not value or "/" in value or value in (".", ".."):
        raise ValueError(f"expected a credential name such as imip-gateway.smtp, got {value!r}")
    return value


def _url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL such as https://cal.example.test/, got {value!r}")
    return value if value.endswith("/") else value + "/"


def _hostname(value: str) -> str:
    value = value.strip()
    if not value or any(ch.isspace() for ch in value) or "/" in value:
        raise ValueError(f"expected a host name or address, got {value!r}")
    return value


REQUIRED = object()

# section -> key -> (parser, default); REQUIRED marks keys without a default.
SCHEMA: dict[str, dict[str, tuple[Callable[[str], Any], Any]]] = {
    "gateway": {
        "instance_id": (_hostname, None),  # default: this host's name
        "state_dir": (_absolute_path, Path("/var/lib/imip-gateway")),
        "spool_dir": (_absolute_path, Path("/var/spool/imip-gateway")),
        "local_domains": (_domains, REQUIRED),
        "site_name": (_text, ""),  # default: the first local domain
        "suppression_days": (_int_range(0, 3650), 7),
        "token_ttl_days": (_int_range(1, 3650), 90),
        "retry_days": (_int_range(0, 365), 5),
        "max_itip_bytes": (_int_range(1024, 64 * 1024 * 1024), 524288),
        "auth_policy": (_choice("off", "warn", "require_dkim_or_spf", "require_dmarc"), "require_dkim_or_spf"),
        "templates_dir": (_absolute_path, None),
        "log_level": (_choice("info", "debug"), "info"),
        "opt_out_users": (_names, ()),
        # Inbound: the authserv-id our own MTA writes into Authentication-Results (its host
        # name); only those headers are trusted. Default: instance_id.
        "authserv_id": (_text, ""),
        # Tuning, rarely set: first retry delay (doubles per attempt, capped at an hour), how
        # often the spool directory is scanned.
        "retry_base_seconds": (_int_range(1, 3600), 60),
        "spool_poll_ms": (_int_range(10, 10000), 100),
    },
    "smtp": {
        "host": (_hostname, REQUIRED),
        "port": (_int_range(1, 65535), 587),
        "starttls": (_bool, True),
        "user": (_text, REQUIRED),
        "password_credential": (_credential, "imip-gateway.smtp"),
        "ca_file": (_absolute_path, None),
        "timeout_seconds": (_int_range(1, 600), 30),
    },
    "imap": {
        "host": (_text, ""),  # empty: the inbound half does not run
        "port": (_int_range(1, 65535), 993),
        "tls": (_bool, True),
        "user": (_text, ""),
        "password_credential": (_credential, "imip-gateway.imap"),
        "polling_seconds": (_int_range(1, 86400), 30),
        "ca_file": (_absolute_path, None),
    },
    "caldav": {
        "url": (_url, REQUIRED),
        "user": (_text, REQUIRED),
        "password_credential": (_credential, "imip-gateway.caldav"),
        "ca_file": (_absolute_path, None),
        "reconcile_seconds": (_int_range(0, 86400), 300),  # 0: no reconciliation
    },
    "invitations": {
        "address": (_address, REQUIRED),
    },
}


@dataclass(frozen=True)
class GatewaySection:
    instance_id: str
    state_dir: Path
    spool_dir: Path
    local_domains: tuple[str, ...]
    site_name: str
    suppression_days: int
    token_ttl_days: int
    retry_days: int
    max_itip_bytes: int
    auth_policy: str
    templates_dir: Path | None
    log_level: str
    opt_out_users: tuple[str, ...]
    authserv_id: str
    retry_base_seconds: int
    spool_poll_ms: int

    @property
    def db_path(self) -> Path:
        return self.state_dir / "gateway.db"


@dataclass(frozen=True)
class SMTPSection:
    host: str
    port: int
    starttls: bool
    user: str
    password_credential: str
    ca_file: Path | None
    timeout_seconds: int


@dataclass(frozen=True)
class IMAPSection:
    host: str
    port: int
    tls: bool
    user: str
    password_credential: str
    polling_seconds: int
    ca_file: Path | None

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class CalDAVSection:
    url: str
    user: str
    password_credential: str
    ca_file: Path | None
    reconcile_seconds: int


@dataclass(frozen=True)
class InvitationsSection:
    address: str

    @property
    def local_part(self) -> str:
        return addresses.local_part_of(self.address)

    @property
    def domain(self) -> str:
        return addresses.domain_of(self.address)

    def token_address(self, token: str) -> str:
        """`<invite-local>+<token>@<domain>` (Postfix's recipient_delimiter is "+")."""
        return addresses.token_address(self.local_part, token, self.domain)

    def token_from_address(self, address: str) -> str | None:
        """The token in a token address of ours (at the invitation address's own domain), or
        None when the address is not one: addresses.parse_token_address."""
        return addresses.parse_token_address(address, self.local_part, (self.domain,))


@dataclass(frozen=True)
class Config:
    path: Path
    gateway: GatewaySection
    smtp: SMTPSection
    imap: IMAPSection
    caldav: CalDAVSection
    invitations: InvitationsSection
    warnings: tuple[str, ...] = field(default=())

    def is_local_address(self, address: str) -> bool:
        """True when a mailto: address (or bare address) is in one of the local domains."""
        address = addresses.normalise(address)
        if "@" not in address:
            return False
        return addresses.domain_of(address).rstrip(".") in self.gateway.local_domains


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: traffic that never leaves this machine."""
    host = host.strip().strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cleartext_problems(path: Path, values: dict[str, dict[str, Any]]) -> list[str]:
    """Passwords and reply tokens travel in clear text only to this machine itself."""
    problems = []
    smtp, caldav = values["smtp"], values["caldav"]
    host, url = smtp.get("host"), caldav.get("url")   # unset or invalid ones are reported already
    if smtp.get("starttls") is False and isinstance(host, str) and not is_loopback(host):
        problems.append(f"{path}: [smtp] starttls: false is allowed only for a server on this host (127.0.0.1, "
                        f"::1, localhost); {host} would get the password in clear text")
    if isinstance(url, str) and urlsplit(url).scheme == "http" and not is_loopback(urlsplit(url).hostname or ""):
        problems.append(f"{path}: [caldav] url: http:// is allowed only for a server on this host (127.0.0.1, "
                        f"::1, localhost); use https:// for {urlsplit(url).hostname}")
    return problems


def parse(text: str, path: Path | str = DEFAULT_PATH) -> Config:
    """Validate ini text; raise ConfigError with every problem found, one per line."""
    path = Path(path)
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not a valid ini file: {exc}") from None
    problems: list[str] = []
    values: dict[str, dict[str, Any]] = {}
    for section in parser.sections():
        if section not in SCHEMA:
            problems.append(f"{path}: unknown section [{section}] (expected one of "
                            f"{', '.join('[' + s + ']' for s in SCHEMA)})")
    for section, keys in SCHEMA.items():
        present = parser[section] if parser.has_section(section) else {}
        for key in present:
            if key not in keys:
                problems.append(f"{path}: [{section}] {key}: unknown key (known: {', '.join(keys)})")
        values[section] = {}
        for key, (convert, default) in keys.items():
            raw = present.get(key) if present else None
            if raw is None or raw.strip() == "":
                if default is REQUIRED:
                    problems.append(f"{path}: [{section}] {key}: required, not set")
                values[section][key] = default
                continue
            try:
                values[section][key] = convert(raw)
            except ValueError as exc:
                problems.append(f"{path}: [{section}] {key}: {exc}")
    problems.extend(_cleartext_problems(path, values))
    if problems:
        raise ConfigError("\n".join(problems))
    gateway = values["gateway"]
    if not gateway["local_domains"]:
        raise ConfigError(f"{path}: [gateway] local_domains: expected at least one domain")
    if gateway["instance_id"] is None:
        gateway["instance_id"] = socket.gethostname()
    if not gateway["authserv_id"]:
        gateway["authserv_id"] = gateway["instance_id"]
    if not gateway["site_name"]:
        gateway["site_name"] = gateway["local_domains"][0]
    imap = values["imap"]
    if imap["host"] and not imap["user"]:
        raise ConfigError(f"{path}: [imap] user: required when [imap] host is set")
    warnings = []
    invitations = values["invitations"]
    if addresses.domain_of(invitations["address"]) not in gateway["local_domains"]:
        warnings.append(f"{path}: [invitations] address {invitations['address']} is not in "
                        f"[gateway] local_domains; replies must still reach its mailbox")
    return Config(
        path=path,
        gateway=GatewaySection(**gateway),
        smtp=SMTPSection(**values["smtp"]),
        imap=IMAPSection(**imap),
        caldav=CalDAVSection(**values["caldav"]),
        invitations=InvitationsSection(**invitations),
        warnings=tuple(warnings),
    )


def load(path: Path | str = DEFAULT_PATH) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (pass --config PATH)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    return parse(text, path)
