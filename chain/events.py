"""Following contract events without gaps or repeats.

`LogFollower` reads logs only up to `head - confirmations` (so a shallow reorg cannot hand
it a log that later disappears), in bounded block ranges, decodes them with the shipped ABIs
into plain `ChainEvent`s, and advances a cursor (the last processed block) through a small
`CursorStore` interface that the node's store implements. The cursor moves only after the
handler has seen every event of the range; an RPC outage raises before anything moves, so
the next poll starts from the same block: no gap. A node that wants exactly-once even
across a crash in the middle of its handler makes the handler's writes and `CursorStore.set`
one database transaction.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from eth_utils import to_checksum_address
from web3 import Web3
from web3._utils.events import get_event_data
from web3.exceptions import LogTopicError, MismatchedABI

from chain.artifacts import load_abi
from chain.errors import ChainError
from chain.tx import RetryPolicy, with_retries


class CursorStore(Protocol):
    """Where a follower keeps the last block it fully processed."""

    def get(self, key: str) -> int | None: ...

    def set(self, key: str, block: int) -> None: ...


class InMemoryCursorStore:
    def __init__(self) -> None:
        self._values: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> int | None:
        with self._lock:
            return self._values.get(key)

    def set(self, key: str, block: int) -> None:
        with self._lock:
            self._values[key] = int(block)


class JsonFileCursorStore:
    """Cursors in a small JSON file, replaced atomically (write, fsync, rename)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, int]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text() or "{}")
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return {str(k): int(v) for k, v in data.items()}
        except (ValueError, TypeError) as exc:
            raise ChainError(
                f"cursor file {self.path} is corrupt ({exc}); delete it to re-read events from the deploy block."
            ) from exc

    def get(self, key: str) -> int | None:
        with self._lock:
            return self._read().get(key)

    def set(self, key: str, block: int) -> None:
        with self._lock:
            values = self._read()
            values[key] = int(block)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            with open(tmp, "w") as handle:
                json.dump(values, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)


@dataclass(frozen=True)
class ChainEvent:
    contract: str  # artifact name, e.g. "Settlement"
    name: str  # event name, e.g. "Committed"
    args: dict[str, Any]  # plain Python values: int, bool, bytes, checksum address strings
    block_number: int
    log_index: int
    tx_hash: str
    address: str


@dataclass
class FollowerConfig:
    confirmations: int = 0
    max_range: int = 2_000  # blocks per eth_getLogs call; public RPCs cap this
    start_block: int = 0  # first block to read when the cursor is empty (the deploy block)
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(attempts=3, first_delay=0.2))


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class EventDecoder:
    """Decodes raw logs of known contracts (by address) into ChainEvents."""

    def __init__(self, w3: Web3, contracts: dict[str, str]) -> None:
        """`contracts`: artifact name -> deployed address."""
        self.w3 = w3
        self.by_address: dict[str, str] = {to_checksum_address(a): n for n, a in contracts.items()}
        self.by_topic: dict[tuple[str, bytes], dict[str, Any]] = {}
        for name in contracts:
            for item in load_abi(name):
                if item.get("type") == "event" and not item.get("anonymous"):
                    signature = f"{item['name']}({','.join(_event_type(i) for i in item['inputs'])})"
                    self.by_topic[(name, bytes(Web3.keccak(text=signature)))] = item

    def decode(self, log: dict[str, Any]) -> ChainEvent | None:
        address = to_checksum_address(log["address"])
        contract = self.by_address.get(address)
        if contract is None or not log["topics"]:
            return None
        abi = self.by_topic.get((contract, bytes(log["topics"][0])))
        if abi is None:
            return None
        try:
            data = get_event_data(self.w3.codec, abi, log)
        except (MismatchedABI, LogTopicError):
            return None
        return ChainEvent(
            contract=contract,
            name=data["event"],
            args={k: _plain(v) for k, v in data["args"].items()},
            block_number=int(log["blockNumber"]),
            log_index=int(log["logIndex"]),
            tx_hash="0x" + bytes(log["transactionHash"]).hex(),
            address=address,
        )


def _event_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        return f"({','.join(_event_type(c) for c in item['components'])}){item['type'][5:]}"
    return item["type"]


class LogFollower:
    """Reads the events of a set of contracts in block order, each exactly once per cursor."""

    def __init__(
        self,
        w3: Web3,
        contracts: dict[str, str],
        cursor: CursorStore,
        key: str = "events",
        config: FollowerConfig | None = None,
        names: Iterable[str] | None = None,
    ) -> None:
        self.w3 = w3
        self.cursor = cursor
        self.key = key
        self.config = config or FollowerConfig()
        self.decoder = EventDecoder(w3, contracts)
        self.addresses = sorted(self.decoder.by_address)
        self.names = set(names) if names is not None else None

    def safe_head(self) -> int:
        head = with_retries(lambda: self.w3.eth.block_number, self.config.retry, "reading the block number")
        return head - self.config.confirmations

    def next_range(self) -> tuple[int, int] | None:
        """The next block range to read, or None when the follower is caught up."""
        last = self.cursor.get(self.key)
        start = self.config.start_block if last is None else last + 1
        end = min(self.safe_head(), start + self.config.max_range - 1)
        return (start, end) if end >= start else None

    def fetch(self, start: int, end: int) -> list[ChainEvent]:
        logs = with_retries(
            lambda: self.w3.eth.get_logs({"fromBlock": start, "toBlock": end, "address": self.addresses}),
            self.config.retry,
            f"reading logs of blocks {start}-{end}",
        )
        events = [e for e in (self.decoder.decode(dict(log)) for log in logs) if e is not None]
        if self.names is not None:
            events = [e for e in events if e.name in self.names]
        return sorted(events, key=lambda e: (e.block_number, e.log_index))

    def poll_once(self, handler: Callable[[ChainEvent], None]) -> int:
        """Process one block range; returns the number of events handled (0 when caught up).

        The cursor moves only after `handler` returned for every event of the range.
        """
        span = self.next_range()
        if span is None:
            return 0
        events = self.fetch(*span)
        for event in events:
            handler(event)
        self.cursor.set(self.key, span[1])
        return len(events)

    def poll(self, handler: Callable[[ChainEvent], None]) -> int:
        """Process every confirmed block up to now; returns the number of events handled."""
        total = 0
        while self.next_range() is not None:
            total += self.poll_once(handler)
        return total

    def drain(self) -> list[ChainEvent]:
        """Convenience: every new confirmed event, as a list (the cursor advances)."""
        out: list[ChainEvent] = []
        self.poll(out.append)
        return out
