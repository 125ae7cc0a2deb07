#!/usr/bin/env python3
"""Stands in for /usr/bin/pkexec in front of the fake helper: passes through, or answers like pkexec does
when the user dismisses the dialog (126) or polkit refuses (127), as $FAKE_HELPER_DIR/state.json's
"pkexec" key says ("dismiss" | "deny")."""

import json
import os
import sys
from pathlib import Path

state_file = Path(os.environ["FAKE_HELPER_DIR"]) / "state.json"
state = json.loads(state_file.read_text()) if state_file.exists() else {}
verdict = state.get("pkexec")
if verdict == "dismiss":
    sys.stderr.write("Error executing command as another user: Request dismissed\n")
    sys.exit(126)
if verdict == "deny":
    sys.stderr.write(
        "Error executing command as another user: Not authorized\n\nThis incident has been reported.\n"
    )
    sys.exit(127)
args = sys.argv[1:]
while args and args[0].startswith("--"):  # pkexec's own options, e.g. --disable-internal-agent
    args = args[2:] if args[0] == "--user" else args[1:]
os.execv(sys.executable, [sys.executable, *args])  # noqa: S606  (pkexec execs the helper too)
