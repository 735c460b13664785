"""StopFlag takes SIGTERM/SIGINT only while a role runs: afterwards the process's own handlers are
back, so a role run inside pytest (or the devnet) never leaves Ctrl-C swallowed."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import SimpleNamespace

from node.runtime.context import NodeContext
from node.runtime.stop import StopFlag
from node.store import Role, open_store


def test_install_takes_the_signals_and_uninstall_restores_the_previous_handlers() -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    before_int = signal.getsignal(signal.SIGINT)
    try:
        flag = StopFlag().install()
        assert signal.getsignal(signal.SIGINT) not in (before_int, signal.default_int_handler)
        os.kill(os.getpid(), signal.SIGTERM)
        assert flag and seen == []  # the flag got it, not the previous handler
        flag.uninstall()
        assert signal.getsignal(signal.SIGINT) is before_int
        os.kill(os.getpid(), signal.SIGTERM)
        assert seen == [signal.SIGTERM]  # the previous handler is live again
        flag.uninstall()  # twice: nothing left to restore
        assert signal.getsignal(signal.SIGINT) is before_int
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_with_block_restores_and_a_second_install_keeps_the_original() -> None:
    original = signal.getsignal(signal.SIGINT)
    with StopFlag() as flag:
        flag.install()  # a role that installs again must not record its own handler as "previous"
        assert signal.getsignal(signal.SIGINT) != original
    assert signal.getsignal(signal.SIGINT) is original


def test_closing_a_node_context_restores_the_handlers(tmp_path: Path) -> None:
    """What every role does on the way out (run_staked_role's and the proposer's `finally`)."""
    original = signal.getsignal(signal.SIGINT)
    stop = StopFlag()
    ctx = NodeContext(
        settings=SimpleNamespace(),  # type: ignore[arg-type]
        role=Role.MINER,
        store=open_store(f"sqlite:///{tmp_path / 'node.db'}"),
        chain=None,  # type: ignore[arg-type]
        address="0x" + "00" * 20,
        account_key=b"",
        identity_secret=b"",
        deployment=None,  # type: ignore[arg-type]
        beacon=None,
        stop=stop,
    )
    stop.install()
    assert signal.getsignal(signal.SIGINT) != original
    ctx.close()
    assert signal.getsignal(signal.SIGINT) is original
