"""Stopping a role process: cleanly on SIGTERM/SIGINT, or (tests only) dead at a crash point."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from node.runtime.context import NodeContext

log = logging.getLogger("rollproof.roles")


class StopFlag:
    """Set by SIGTERM/SIGINT: the loop finishes its current step and exits cleanly."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.event.set())

    def __bool__(self) -> bool:
        return self.event.is_set()

    def sleep(self, seconds: float) -> None:
        self.event.wait(seconds)


def crash_point(ctx: NodeContext, state: Any) -> None:
    """Tests only: die by SIGKILL right after `state` was persisted (no cleanup, like a power cut)."""
    if ctx.settings.crash_after and ctx.settings.crash_after == str(state):
        log.warning("crash_after=%s: killing this process now", state)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)
