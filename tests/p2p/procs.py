"""Parent-side handle on a worker process (tests/p2p/worker.py)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("worker.py")
ROOT = WORKER.parents[2]


class Worker:
    def __init__(
        self,
        index: int,
        staked: list[int],
        bootstrap: list[str] | None = None,
        prefix: list[str] | None = None,
        **spec,
    ) -> None:
        """`prefix`: a command to run the worker under, e.g. `ip netns exec <ns>`."""
        self.spec = {"index": index, "staked": staked, "bootstrap": bootstrap or [], **spec}
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*(prefix or []), sys.executable, str(WORKER), json.dumps(self.spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(spec["log"], "a") if spec.get("log") else subprocess.DEVNULL,  # noqa: SIM115
            text=True,
            cwd=ROOT,
            env=env,
        )
        ready = self._read()
        self.addrs: list[str] = ready["ready"]
        self.peer_id: str = ready["peer_id"]

    def _read(self, timeout: float | None = None) -> dict:
        if timeout is not None and not select.select([self.proc.stdout], [], [], timeout)[0]:
            raise TimeoutError(f"worker {self.spec['index']} did not answer within {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.spec['index']} exited (code {self.proc.poll()})")
        return json.loads(line)

    def send(self, **cmd) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def recv(self, timeout: float | None = None) -> dict:
        return self._read(timeout)

    def call(self, read_timeout: float | None = None, **cmd) -> dict:
        self.send(**cmd)
        return self._read(read_timeout)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> dict | None:
        """Ask the worker to stop cleanly; returns its goodbye ({"bye": True, "failure": ...})."""
        if self.proc.poll() is None:
            try:
                bye = self.call(cmd="quit")
                self.proc.wait(15)
                return bye
            except Exception:
                self.proc.kill()
                self.proc.wait(10)
        return None
