"""The store's sessions: one database transaction per call, or the caller's, and the input checks
every part of the store shares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from node.store.database import redact_url


def check_uint(name: str, value: int, bits: int = 63) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 2**bits:
        raise ValueError(f"{name} must be a non-negative integer below 2**{bits}, got {value!r}.")
    return value


def checksum(address: str) -> str:
    """EIP-55 checksummed address; a clear error for anything else."""
    from eth_utils import to_checksum_address

    try:
        return to_checksum_address(address)
    except (ValueError, TypeError):
        raise ValueError(f"{address!r} is not an Ethereum address.") from None


class StoreBase:
    """One node's database behind a session factory; the parts of `Store` build on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        return redact_url(self.engine.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One database transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def _use(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
        else:
            with self.transaction() as s:
                yield s
