"""A real Anvil node for tests and devnets.

`Anvil` starts `node_modules/.bin/anvil` on a free loopback port with the Prague hardfork
(the DrandBeacon contract needs the EIP-2537 BLS precompiles), waits until the RPC answers
and always kills the process on exit, also when the body of the `with` raised.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

# Anvil's default mnemonic ("test test ... junk") derives these ten funded accounts.
DEFAULT_PRIVATE_KEYS: tuple[str, ...] = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)

REPO_ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"Listening on 127\.0\.0\.1:(\d+)")


class AnvilError(RuntimeError):
    """Anvil could not be started or did not answer."""


def find_anvil_binary() -> str:
    """The anvil executable: $ROLLPROOF_ANVIL, the repository's npm copy, or one on PATH."""
    env = os.environ.get("ROLLPROOF_ANVIL")
    if env:
        return env
    local = REPO_ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if found:
        return found
    raise AnvilError(
        "anvil was not found: run `npm ci` in the repository (or `make install`), or set ROLLPROOF_ANVIL."
    )


@dataclass
class AnvilConfig:
    """How to start Anvil. `port=0` lets the OS pick a free port (no race with other tests)."""

    port: int = 0
    chain_id: int = 31337
    accounts: int = 10
    balance_eth: int = 10_000
    block_time: float | None = None  # None: a block per transaction (automine)
    hardfork: str = "prague"
    startup_timeout: float = 30.0
    extra_args: list[str] = field(default_factory=list)


class Anvil:
    """A running Anvil process. Use as a context manager, or call start()/stop()."""

    def __init__(self, config: AnvilConfig | None = None) -> None:
        self.config = config or AnvilConfig()
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._client = httpx.Client(timeout=10.0)
        self._rpc_id = 0

    # ---- lifecycle -------------------------------------------------------------------
    @property
    def rpc_url(self) -> str:
        if self.port is None:
            raise AnvilError("Anvil is not running.")
        return f"http://127.0.0.1:{self.port}"

    @property
    def private_keys(self) -> tuple[str, ...]:
        return DEFAULT_PRIVATE_KEYS[: self.config.accounts]

    def start(self) -> Anvil:
        cfg = self.config
        args = [
            find_anvil_binary(),
            "--host",
            "127.0.0.1",
            "--port",
            str(cfg.port),
            "--hardfork",
            cfg.hardfork,
            "--chain-id",
            str(cfg.chain_id),
            "--accounts",
            str(cfg.accounts),
            "--balance",
            str(cfg.balance_eth),
            # Without it Anvil writes every block's whole state to ~/.foundry/anvil/tmp once a few
            # hundred are held in memory (2-5 MB a block with our contracts deployed): a test session
            # or a long devnet filled the disk (CI: "No space left on device"). With a bare
            # --prune-history it keeps no past state at all, and a read at the previous block (a
            # transaction sender racing a new block) fails; 64 recent states stay in memory.
            "--prune-history",
            "64",
        ]
        if cfg.block_time is not None:
            args += ["--block-time", str(cfg.block_time)]
        args += cfg.extra_args
        # Output goes to a file, not a pipe: an undrained pipe would block anvil once full.
        fd, log = tempfile.mkstemp(prefix="anvil-", suffix=".log")
        self._log_path = Path(log)
        with os.fdopen(fd, "wb") as out:
            self._proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        try:
            self.port = self._wait_for_port(cfg.startup_timeout)
            self._wait_for_rpc(cfg.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_port(self, timeout: float) -> int:
        assert self._proc is not None and self._log_path is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self._log_path.read_text(errors="replace")
            match = _LISTENING.search(text)
            if match:
                return int(match.group(1))
            if self._proc.poll() is not None:
                raise AnvilError(f"anvil exited with code {self._proc.returncode}: {text[-2000:]}")
            time.sleep(0.05)
        raise AnvilError(f"anvil did not report a listening port within {timeout:.0f} s.")

    def _wait_for_rpc(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.rpc("eth_chainId")
                return
            except (httpx.HTTPError, AnvilError):
                time.sleep(0.05)
        raise AnvilError(f"anvil did not answer RPC calls within {timeout:.0f} s.")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None
        self.port = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort: never leave an orphan anvil behind
        try:
            self.stop()
        except Exception:
            pass

    # ---- RPC helpers -------------------------------------------------------------------
    def rpc(self, method: str, *params: Any) -> Any:
        self._rpc_id += 1
        body = {"jsonrpc": "2.0", "id": self._rpc_id, "method": method, "params": list(params)}
        reply = self._client.post(self.rpc_url, json=body).json()
        if "error" in reply:
            raise AnvilError(f"{method} failed: {reply['error'].get('message', reply['error'])}")
        return reply.get("result")

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def increase_time(self, seconds: int) -> None:
        """Move the chain clock forward by `seconds` and mine a block so it takes effect."""
        self.rpc("evm_increaseTime", int(seconds))
        self.mine()

    def set_next_timestamp(self, timestamp: int) -> None:
        """The next mined block gets exactly this timestamp (must be after the latest one)."""
        self.rpc("evm_setNextBlockTimestamp", int(timestamp))

    def warp_to(self, timestamp: int) -> None:
        """Mine a block at `timestamp` (no-op when the chain is already past it)."""
        if timestamp > self.timestamp():
            self.set_next_timestamp(timestamp)
            self.mine()

    def timestamp(self) -> int:
        block = self.rpc("eth_getBlockByNumber", "latest", False)
        return int(block["timestamp"], 16)

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        if not self.rpc("evm_revert", snapshot_id):
            raise AnvilError(f"snapshot {snapshot_id} could not be reverted (already used?).")

    def set_automine(self, enabled: bool) -> None:
        self.rpc("evm_setAutomine", enabled)
