#!/usr/bin/env python3
"""A stand-in for the root bypass helper that speaks its real contract (verbs, options, status JSON,
exit codes) with its state in $FAKE_HELPER_DIR/state.json, and logs each verb to $FAKE_HELPER_DIR/log.

state.json keys: enabled (bool), mode, drifted (bool), fail ({"verb": exit code}).
"""

import json
import os
import sys
from pathlib import Path

d = Path(os.environ["FAKE_HELPER_DIR"])
state_file = d / "state.json"
state = json.loads(state_file.read_text()) if state_file.exists() else {"enabled": False}
verb = sys.argv[1] if len(sys.argv) > 1 else ""
with (d / "log").open("a") as log:
    log.write(" ".join(sys.argv[1:]).replace(" ", ":") + "\n")
code = state.get("fail", {}).get(verb)
if code is not None:
    sys.stderr.write("fake helper: failing as asked\n")
    sys.exit(int(code))
if verb == "enable":
    mode = sys.argv[sys.argv.index("--mode") + 1] if "--mode" in sys.argv else "direct"
    state.update(enabled=True, mode=mode, drifted=False)
elif verb == "disable":
    state.update(enabled=False, mode=None, drifted=False)
elif verb == "refresh":
    state["drifted"] = False
elif verb == "status":
    print(
        json.dumps(
            {
                "enabled": state.get("enabled", False),
                "mode": state.get("mode") if state.get("enabled") else None,
                "options": [],
                "tailnet4": ["100.64.0.0/10"],
                "tailnet6": ["fd7a:115c:a1e0::/48"],
                "matches_expected": not state.get("drifted", False),
                "mullvad": {"table": True, "split_tunnel_accept": True},
                "warnings": [],
            }
        )
    )
elif verb == "version":
    print(1)
else:
    sys.stderr.write(f"usage: bypass-helper VERB (unknown {verb!r})\n")
    sys.exit(2)
state_file.write_text(json.dumps(state))
