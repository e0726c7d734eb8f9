#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side bridge from the dns role to plugins/module_utils/_dns_records.py.

    imip_dns_plan.py plan BASE64_JSON_KWARGS            -> JSON plan (records per view and zone)
    imip_dns_plan.py serial BASE64_CURRENT_FILE BASE64_BODY -> JSON {"serial", "changed"}

Called through the `pipe` lookup (read-only, so it also runs under --check). Collection roles
cannot carry filter plugins; a filter in plugins/filter/ would replace this script.
Standard library only; never receives secrets.
"""
import base64
import importlib.util
import json
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[3] / "plugins" / "module_utils" / "_dns_records.py"
_SPEC = importlib.util.spec_from_file_location("_imip_dns_records", _PATH)
records = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(records)


def _arg(text):
    return base64.b64decode(text).decode("utf-8") if text and text != "-" else ""


def main(argv):
    if argv[1] == "plan":
        out = records.plan(**json.loads(_arg(argv[2])))
    elif argv[1] == "serial":
        serial, changed = records.next_serial(_arg(argv[2]), _arg(argv[3]))
        out = {"serial": serial, "changed": changed}
    else:
        raise SystemExit("usage: imip_dns_plan.py plan|serial ...")
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv)
