"""The `imip-gateway` command: run | status [--json] | check-config | check-hook."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from imip_gateway import __version__, config
from imip_gateway.credentials import CredentialError, read_secret

log = logging.getLogger("imip_gateway")


def setup_logging(level: str) -> None:
    # One line per event to stderr; journald adds the time and the unit.
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s",
                        level=logging.DEBUG if level == "debug" else logging.INFO, force=True)


def _load(args) -> config.Config:
    cfg = config.load(args.config)
    for warning in cfg.warnings:
        log.warning("%s", warning)
    return cfg


def cmd_run(args) -> int:
    cfg = _load(args)
    setup_logging("debug" if args.debug else cfg.gateway.log_level)
    from imip_gateway import service
    return service.run(cfg)


def cmd_status(args) -> int:
    from imip_gateway import status
    cfg = _load(args)
    report = status.collect(cfg)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        sys.stdout.write(status.format_human(report))
    return 1 if status.problems(report) else 0


def cmd_check_config(args) -> int:
    """Validate the file, the credentials (present, never printed) and the paths."""
    cfg = _load(args)
    failures = []
    credentials = (("smtp", cfg.smtp.password_credential), ("caldav", cfg.caldav.password_credential)) + (
        (("imap", cfg.imap.password_credential),) if cfg.imap.enabled else ())
    if args.skip_credentials:
        credentials = ()
        print("note: credentials not checked (--skip-credentials)")
    for section, name in credentials:
        try:
            read_secret(name)
            print(f"ok: [{section}] credential {name} readable")
        except CredentialError as exc:
            failures.append(f"[{section}] {exc}")
    for label, path in (("[smtp] ca_file", cfg.smtp.ca_file), ("[caldav] ca_file", cfg.caldav.ca_file),
                        ("[imap] ca_file", cfg.imap.ca_file), ("[gateway] templates_dir", cfg.gateway.templates_dir)):
        if path is not None and not path.exists():
            failures.append(f"{cfg.path}: {label}: {path} does not exist")
    for label, path in (("state_dir", cfg.gateway.state_dir), ("spool_dir", cfg.gateway.spool_dir)):
        if path.exists() and not path.is_dir():
            failures.append(f"{cfg.path}: [gateway] {label}: {path} is not a directory")
        elif not path.exists():
            print(f"note: [gateway] {label} {path} does not exist yet (created at the service's start)")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    if not failures:
        print(f"ok: {cfg.path} is valid")
    return 1 if failures else 0


def cmd_check_hook(args) -> int:
    """Exit 0 only when Radicale's hook wrote its marker (newer than --newer-than, if given)."""
    from imip_gateway.service import check_hook_loaded, hook_marker, read_hook_marker
    cfg = _load(args)
    problem = check_hook_loaded(cfg)
    if problem is None and args.newer_than is not None:
        marker = read_hook_marker(cfg) or {}
        if float(marker.get("time", 0)) < args.newer_than:
            problem = (f"the Radicale hook marker {hook_marker(cfg)} is older than {args.newer_than:.0f}: "
                       f"the running Radicale did not load imip_gateway.radicale_hook")
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    print(f"ok: Radicale hook loaded ({hook_marker(cfg)})")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="imip-gateway", description="iMIP gateway for Radicale")
    p.add_argument("--version", action="version", version=f"imip-gateway {__version__}")
    p.add_argument("--config", default=str(config.DEFAULT_PATH),
                   help=f"configuration file (default {config.DEFAULT_PATH})")
    # --config also after the subcommand: `imip-gateway run --config PATH`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="configuration file")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common], help="run the service (systemd runs this)")
    run.add_argument("--debug", action="store_true", help="log at debug level (full iTIP bodies)")
    run.set_defaults(func=cmd_run)
    status = sub.add_parser("status", parents=[common], help="queue depth, oldest pending job, last SMTP result and login")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)
    check = sub.add_parser("check-config", parents=[common],
                           help="validate the configuration and that the credentials exist")
    check.add_argument("--skip-credentials", action="store_true",
                       help="validate the file only (outside the unit, where $CREDENTIALS_DIRECTORY is not set)")
    check.set_defaults(func=cmd_check_config)
    hook = sub.add_parser("check-hook", parents=[common], help="exit non-zero unless Radicale's hook has loaded")
    hook.add_argument("--newer-than", type=float, default=None, metavar="EPOCH",
                      help="the marker must be newer than this Unix time (e.g. Radicale's start)")
    hook.set_defaults(func=cmd_check_hook)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging("info")
    try:
        return args.func(args)
    except config.ConfigError as exc:
        print(f"imip-gateway: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except CredentialError as exc:
        print(f"imip-gateway: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
