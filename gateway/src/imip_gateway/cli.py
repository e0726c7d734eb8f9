"""`imip-gateway run | status [--json] | check-config` (placeholder until the service lands)."""

def main(argv=None) -> int:
    raise SystemExit("imip-gateway: not implemented yet")
