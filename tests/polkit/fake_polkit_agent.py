"""A polkit authentication agent for tests that answers every request with a fixed verdict.

usage: fake_polkit_agent.py cancel|fail -- COMMAND [ARGS...]

It registers on the system bus as the agent for its own process AND for the COMMAND's process, then runs
COMMAND and exits with COMMAND's exit code. pkexec's polkit subject is its parent process, so the agent
is asked both when COMMAND is pkexec itself and when COMMAND starts pkexec (the CLI). COMMAND waits on a
pipe until both registrations are in place, so pkexec can never ask before the agent exists.

`cancel` answers org.freedesktop.PolicyKit1.Error.Cancelled (the user dismissed the dialog: pkexec 126);
`fail` answers ...Error.Failed (pkexec 127). An agent cannot approve without the user's password (that
goes through the setuid polkit-agent-helper-1 and PAM), so "allowed" tests use a rules file instead.

The last stdout line is `fake-agent: {"asked": [{"action": ..., "message": ..., "details": {...}}]}`.
Runs as the test user under Debian's /usr/bin/python3 with a copy of jeepney on PYTHONPATH.
"""

import json
import os
import subprocess
import sys

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_call, new_method_return
from jeepney.io.blocking import open_dbus_connection

AUTHORITY = DBusAddress(
    "/org/freedesktop/PolicyKit1/Authority",
    bus_name="org.freedesktop.PolicyKit1",
    interface="org.freedesktop.PolicyKit1.Authority",
)
VERDICTS = {
    "cancel": ("org.freedesktop.PolicyKit1.Error.Cancelled", "dismissed by the test"),
    "fail": ("org.freedesktop.PolicyKit1.Error.Failed", "failed by the test"),
}
# Started first, then exec'd into COMMAND once the agent is registered for its pid.
GATE = "import os, sys; os.read(int(sys.argv[1]), 1); os.execvp(sys.argv[2], sys.argv[2:])"


def start_time(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime in clock ticks


def register(conn, pid: int, path: str) -> None:
    subject = (
        "unix-process",
        {"pid": ("u", pid), "start-time": ("t", start_time(pid)), "uid": ("i", os.getuid())},
    )
    msg = new_method_call(AUTHORITY, "RegisterAuthenticationAgent", "(sa{sv})ss", (subject, "C.UTF-8", path))
    reply = conn.send_and_get_reply(msg, timeout=10)
    if reply.header.message_type == MessageType.error:
        sys.exit(f"fake-agent: registering for pid {pid} failed: {reply.body}")


def main() -> int:
    verdict = VERDICTS[sys.argv[1]]
    cmd = sys.argv[sys.argv.index("--") + 1 :]
    conn = open_dbus_connection(bus="SYSTEM")
    r, w = os.pipe()
    child = subprocess.Popen([sys.executable, "-c", GATE, str(r), *cmd], pass_fds=(r,))
    os.close(r)
    register(conn, os.getpid(), "/io/github/MttTest/AgentSelf")
    register(conn, child.pid, "/io/github/MttTest/AgentChild")
    os.write(w, b"go")
    os.close(w)
    asked = []
    while child.poll() is None:
        try:
            msg = conn.receive(timeout=0.05)
        except TimeoutError:
            continue
        if msg.header.message_type != MessageType.method_call:
            continue
        member = msg.header.fields.get(HeaderFields.member)
        if member == "BeginAuthentication":
            action_id, message, _icon, details = msg.body[0], msg.body[1], msg.body[2], msg.body[3]
            asked.append({"action": action_id, "message": message, "details": dict(details)})
            conn.send(new_error(msg, verdict[0], "s", (verdict[1],)))
        elif member == "CancelAuthentication":
            conn.send(new_method_return(msg))
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (str(member),)))
    print("fake-agent: " + json.dumps({"asked": asked}), flush=True)
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
