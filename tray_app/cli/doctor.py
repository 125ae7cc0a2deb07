"""`mullvad-tailscale-tray doctor [--json] [--probe PEER]`: list every check with what to do.

Exit 1 when any check fails, 0 otherwise (warnings included), so scripts can gate on it.
"""

from __future__ import annotations

import argparse
import json

from tray_app.core import doctor
from tray_app.doctor_facts import Options, gather


def run(args: argparse.Namespace) -> int:
    opts = Options(
        mullvad_cli=args.mullvad_cli,
        tailscale_socket=args.tailscale_socket,
        tailscale_cli=args.tailscale_cli,
        probe=args.probe,
    )
    checks = doctor.run_checks(gather(opts))
    if args.json:
        print(json.dumps({"checks": [c.to_json() for c in checks]}, indent=2))
    else:
        print(doctor.render_text(checks))
    return doctor.exit_code(checks)
