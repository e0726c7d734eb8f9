"""`python -m imip_gateway` is the same as the `imip-gateway` command."""

from imip_gateway.cli import main

raise SystemExit(main())
