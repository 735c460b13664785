"""docs/OPERATIONS.md as a script: its host-marked blocks, run in network namespaces as written.

A fenced block whose info string names a host (```` ```bash host=alice ````, ```` ```toml
host=bob file=~/bob/rollproof.toml ````) belongs to the runbook; every other block is prose. Bash
blocks run line by line in the host's namespace with the host's own HOME; consecutive ordinary
lines run as one script, and every variable they set carries over to the host's next script (a
terminal session). A line that starts a long-running program (Anvil, the beacon, a role) starts
in the background, as in its own terminal; `scp SRC user@IP:DEST` copies between the homes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "OPERATIONS.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\s*$", re.S | re.M)
LONG_RUNNING = re.compile(
    r"^(node_modules/\.bin/anvil|rollproof beacon serve|rollproof (miner|validator|proposer))\b"
)


@dataclass
class Block:
    lang: str
    host: str
    body: str
    file: str | None = None


def parse(text: str) -> list[Block]:
    """The runbook's blocks in document order (a block without `host=` is prose)."""
    out: list[Block] = []
    for m in FENCE.finditer(text):
        attrs = dict(kv.split("=", 1) for kv in m.group(2).split() if "=" in kv)
        if "host" in attrs:
            out.append(Block(m.group(1), attrs["host"], m.group(3), attrs.get("file")))
    return out


def lines_of(body: str) -> list[str]:
    """Shell lines with backslash continuations joined; blank and comment-only lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", body)
    return [ln for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def steps_of(body: str) -> list[tuple[str, str]]:
    """(kind, text): 'script' (ordinary lines, run together), 'serve' (long-running) or 'scp'."""
    steps: list[tuple[str, str]] = []
    script: list[str] = []
    for line in lines_of(body):
        command = line.strip()
        kind = "serve" if LONG_RUNNING.match(command) else "scp" if command.startswith("scp ") else ""
        if not kind:
            script.append(line)
            continue
        if script:
            steps.append(("script", "\n".join(script)))
            script = []
        steps.append((kind, command))
    if script:
        steps.append(("script", "\n".join(script)))
    return steps


@dataclass
class Host:
    """One machine: a namespace, an address, a home directory and the variables its shell set."""

    name: str
    ns_prefix: list[str]
    address: str
    home: Path
    env: dict[str, str]
    state: Path = field(init=False)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: Path = field(init=False)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.state = self.home.parent / f"{self.name}.state"
        self.logs = self.home.parent / "logs"
        self.logs.mkdir(exist_ok=True)

    def _prologue(self) -> str:
        # `set -a`: every assignment is exported, so `export -p` carries it to the next script.
        return f"set -a\n[ -f {shlex.quote(str(self.state))} ] && . {shlex.quote(str(self.state))}\n"

    def run(self, script: str, timeout: float = 300) -> str:
        """Run ordinary lines; any failing line fails the step with its output."""
        body = (
            self._prologue()
            + "set -e -o pipefail\n"
            + script
            + f"\nexport -p > {shlex.quote(str(self.state))}\n"
        )
        started = time.time()
        try:
            done = subprocess.run(
                [*self.ns_prefix, "bash", "-c", body],
                cwd=REPO,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"on {self.name}, the runbook step\n{script}\ndid not finish in {timeout:.0f} s; its output:\n"
                f"{exc.stdout!r}\n{exc.stderr!r}"
            ) from None
        with open(self.logs / f"{self.name}.commands.log", "a") as log:
            stamp = time.strftime("%H:%M:%S", time.localtime(started))
            log.write(
                f"[{stamp} +{time.time() - started:.1f} s] $ {script}\n{done.stdout}{done.stderr}(exit {done.returncode})\n"
            )
        if done.returncode != 0:
            raise AssertionError(
                f"on {self.name}, the runbook step\n{script}\nexited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def start(self, command: str) -> subprocess.Popen[bytes]:
        """A long-running line in the background, its output in logs/<host>.<program>.log."""
        tag = re.sub(r"\W+", "-", command.split(" --")[0]).strip("-")[-24:]
        out = open(self.logs / f"{self.name}.{tag}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            [*self.ns_prefix, "bash", "-c", self._prologue() + "exec " + command],
            cwd=REPO,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self.procs[command] = proc
        return proc

    def kill(self, command: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(command)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def stop_all(self) -> None:
        for command in list(self.procs):
            try:
                self.kill(command, signal.SIGTERM)
            except (ProcessLookupError, OSError):
                pass

    def wait_port(self, port: int, timeout: float = 60) -> None:
        probe = f"for i in $(seq {int(timeout * 5)}); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && exit 0; sleep 0.2; done; exit 1"
        done = subprocess.run(
            [*self.ns_prefix, "bash", "-c", probe], capture_output=True, timeout=timeout + 10
        )
        assert done.returncode == 0, f"nothing listens on port {port} on {self.name} after {timeout:.0f} s"

    def path(self, text: str) -> Path:
        """A path as this host's shell reads it (`~` is its HOME)."""
        return self.home / text[2:] if text.startswith("~/") else Path(text)


def scp(command: str, src_host: Host, by_address: dict[str, Host]) -> None:
    """`scp SRC user@IP:DEST`, between the hosts' homes."""
    _, src, dest = shlex.split(command)
    where, _, dest_path = dest.partition(":")
    target = by_address[where.split("@")[-1]]
    to = target.path(dest_path)
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src_host.path(src), to)


def wait_until(predicate, timeout: float, what: str, poll: float = 0.3) -> float:  # noqa: ANN001
    """Seconds it took; an assertion naming `what` after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)
    return time.monotonic() - started
