"""A warm `python -m sampleloans` for tests that need many real CLI processes.

A cold `python -m sampleloans` spends ~1.3 s of CPU importing before the command starts, and
the kill and damaged-file sweeps start hundreds. Here one server process imports the package
once and forks a child per run: the child is a real process of its own (its own cwd,
environment, stdin/stdout/stderr, signal handlers, exit status, `atexit`) that runs
`sampleloans.__main__` as `python -m` does, from the moment the imports are done. A signal
sent to it lands in the command's own work, never in the imports.

Run as a script, this file is the server: it reads one JSON request a line on stdin (args,
cwd, env, where stdout and stderr go, and optionally a signal and when to send it), forks, and
answers with one JSON line (exit code, seconds the child ran, whether the signal was sent).
"""

import importlib
import json
import os
import pkgutil
import runpy
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SKIPPED = ("sampleloans.__main__", "sampleloans.migrations")
"""Not imported ahead: the entry point runs per child, and Alembic's env.py and revisions
only import inside a migration context."""


def preload() -> None:
    """Import every module of the package a command may load, before any fork."""
    import sampleloans

    for module in pkgutil.walk_packages(sampleloans.__path__, "sampleloans."):
        if not module.name.startswith(SKIPPED):
            importlib.import_module(module.name)


def serve() -> dict[str, Any] | None:
    """Answer requests until stdin ends (None); in a forked child, its request."""
    while line := sys.stdin.readline():
        request = json.loads(line)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            return dict(request)
        answer = wait_for(pid, request, started)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return None


def wait_for(pid: int, request: dict[str, Any], started: float) -> dict[str, Any]:
    """Wait for the child, signalled `after_s` seconds after its fork if still running."""
    signalled = False
    if request.get("signum") is not None:
        # the child is not reaped before the wait below, so its pid is never reused meanwhile
        handle = os.pidfd_open(pid)
        ready, _, _ = select.select([handle], [], [], request["after_s"])
        os.close(handle)
        if not ready:
            os.kill(pid, request["signum"])
            signalled = True
    _, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - started
    cpu_s = usage.ru_utime + usage.ru_stime
    code = os.waitstatus_to_exitcode(status)
    return {"code": code, "seconds": seconds, "cpu_s": cpu_s, "signalled": signalled}


def become(request: dict[str, Any]) -> None:
    """Turn the forked child into `python -m sampleloans ARGS` in `cwd` with `env`."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # TMPDIR is read again, from this environment
    for fd, path, flags in (
        (0, os.devnull, os.O_RDONLY),
        (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115  (the server's read-ahead is not ours)
    sys.argv = ["sampleloans", *request["args"]]
    while request.get("barrier") and not os.path.exists(request["barrier"]):
        time.sleep(0.0005)  # held until the barrier file appears: racers start together


@dataclass(frozen=True)
class Done:
    """How a run ended: its exit code (-N: killed by signal N), output, run time and CPU."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    signalled: bool
    cpu_s: float


class WarmCli:
    """The client: start the server once, then run commands in forked children."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.count = 0
        log = (scratch / "server.log").open("w")
        self.server = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()

    def run(
        self,
        args: list[str],
        cwd: Path,
        env: dict[str, str],
        signum: int | None = None,
        after_s: float = 0.0,
        stdout_to: Path | None = None,
        barrier: Path | None = None,
    ) -> Done:
        """Run `sampleloans ARGS` in a child; with `signum`, sent `after_s` s after its start;
        with `stdout_to`, its standard output goes there (e.g. /dev/full), not read back; with
        `barrier`, the command starts once that file exists."""
        self.count += 1
        out, err = (self.scratch / f"{self.count}.{name}" for name in ("out", "err"))
        if stdout_to is not None:
            out = stdout_to
        request: dict[str, object] = {"args": args, "cwd": str(cwd), "env": env}
        request.update(stdout=str(out), stderr=str(err), signum=signum, after_s=after_s)
        request.update(barrier=str(barrier) if barrier else None)
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        line = self.server.stdout.readline()
        assert line, (self.scratch / "server.log").read_text()
        answer = json.loads(line)
        stdout = out.read_text(errors="replace") if stdout_to is None else ""
        stderr = err.read_text(errors="replace")
        for ours in (out, err) if stdout_to is None else (err,):
            ours.unlink()
        seconds, signalled, cpu_s = answer["seconds"], answer["signalled"], answer["cpu_s"]
        return Done(answer["code"], stdout, stderr, seconds, signalled, cpu_s)

    def close(self) -> None:
        """End the server: its stdin closed, it leaves its loop and exits."""
        assert self.server.stdin is not None
        self.server.stdin.close()
        self.server.wait(timeout=60)


if __name__ == "__main__":
    preload()
    # a child of the server leaves `serve` with its request; the server itself when stdin ends
    if (wanted := serve()) is not None:
        become(wanted)
        runpy.run_module("sampleloans", run_name="__main__", alter_sys=True)
