"""nft operations: apply one batch, list tables as JSON, and a reference listing from a scratch namespace."""

from __future__ import annotations

import contextlib
import json
import os

from tray_app.core.protocol import TABLE_FAMILY, TABLE_NAME
from tray_app.helper import tools

CLONE_NEWNET = 0x40000000


class NftRejectedError(RuntimeError):
    """nft refused the batch; the kernel applied nothing (nft batches are all-or-nothing)."""


def apply(batch: str) -> None:
    r = tools.run("nft", "-f", "-", stdin=batch)
    if r.rc != 0:
        raise NftRejectedError(tools.short(r.err) or f"nft exited with status {r.rc}")


def _absent(err: str) -> bool:
    return "No such file or directory" in err


def list_table(family: str, name: str, job: tools.Job | None = None) -> str | None:
    """`nft -j list table FAMILY NAME`, None when the table does not exist. `job`: that listing, started
    earlier (list_job) to run alongside other work."""
    r = job.result() if job is not None else tools.run("nft", "-j", "list", "table", family, name)
    if r.rc == 0:
        return r.out
    if _absent(r.err):
        return None
    raise tools.ToolFailedError(f"`nft list table {family} {name}` failed: {tools.short(r.err, 3)}")


def list_job(family: str, name: str) -> tools.Job:
    return tools.Job("nft", "-j", "list", "table", family, name)


def list_ours() -> str | None:
    return list_table(TABLE_FAMILY, TABLE_NAME)


def _unshare_net() -> None:
    unshare = getattr(os, "unshare", None)  # Python >= 3.12
    if unshare is not None:
        unshare(CLONE_NEWNET)
        return
    import ctypes  # noqa: PLC0415  (Python 3.11 only, and only for status's scratch namespace: off the toggle's path)

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")


def scratch_listing(batch: str) -> str:
    """Load `batch` into a fresh, empty network namespace and return `nft -j list ruleset` from there.

    This is how the helper learns how *this* nft spells our rules in JSON, without touching the live
    ruleset: the namespace dies with the forked child.
    """
    nft = tools.find("nft")
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into the helper's code
        code = 1
        try:
            os.close(rfd)
            _unshare_net()
            res = tools.run("nft", "-f", "-", stdin=batch)
            if res.rc == 0:
                res = tools.run("nft", "-j", "list", "ruleset")
            payload = json.dumps({"rc": res.rc, "out": res.out, "err": res.err}).encode()
            with os.fdopen(wfd, "wb") as w:
                w.write(payload)
            code = 0
        except BaseException as e:  # report anything, including OSError from unshare
            with contextlib.suppress(BaseException):
                os.write(wfd, json.dumps({"rc": -1, "out": "", "err": str(e)}).encode())
        finally:
            os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as r:
        data = r.read()
    os.waitpid(pid, 0)
    try:
        res = json.loads(data)
    except ValueError:
        raise tools.ToolFailedError("scratch namespace check produced no result") from None
    if res.get("rc") != 0:
        raise tools.ToolFailedError(
            f"scratch namespace check failed ({nft}): {tools.short(str(res.get('err')), 3)}"
        )
    return str(res["out"])
