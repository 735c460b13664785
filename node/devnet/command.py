"""`rollproof devnet` and `python -m node.devnet`: run a devnet to its summary."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from node.devnet.errors import DevnetError
from node.devnet.options import DevnetOptions, options_from_config
from node.devnet.processes import Devnet
from node.devnet.summary import print_summary


def run_devnet(options: DevnetOptions) -> tuple[int, dict[str, Any]]:
    """Run a devnet to its summary; returns (exit code, summary)."""
    from rich.console import Console
    from rich.live import Live

    summary: dict[str, Any] = {}
    _terminate_as_interrupt()
    with Devnet(options) as net:
        try:
            console = Console()
            if options.live and not options.json:
                net.progress = lambda message: console.print(
                    f"[dim]{time.monotonic() - net.started:6.1f} s[/dim]  {message}", highlight=False
                )
            net.start()
            if options.live and not options.json:
                with Live(net.render(), console=console, refresh_per_second=2) as live:
                    net.run_tasks(view=live)
            else:
                net.run_tasks()
            summary = net.summary()
            summary["plot"] = str(net.plot(net.learning_curves(), net.out / "learning_curve.png"))
        except DevnetError as exc:
            summary = {"ok": False, "error": str(exc)}
        finally:
            (net.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return (0 if summary.get("ok") else 1), summary


def _terminate_as_interrupt() -> None:
    """SIGTERM unwinds like Ctrl-C, so the `finally` blocks stop every node process."""
    import threading

    if threading.current_thread() is threading.main_thread():

        def handler(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, handler)


def run(config: Any) -> int:
    """`rollproof devnet`: `config` is a DevnetOptions, or a node.config.Config (its [devnet] section)."""
    options = config if isinstance(config, DevnetOptions) else options_from_config(config)
    code, summary = run_devnet(options)
    if options.json:
        print(json.dumps(summary, indent=1, default=str))
    elif "error" in summary:
        print(f"devnet failed: {summary['error']}", file=sys.stderr)
    else:
        print_summary(summary)
    return code


def serve_beacon(port: int, genesis: int, period: int) -> None:
    """The devnet's drand-compatible beacon as its own process (fixed public devnet seed)."""
    from node.devnet.beacon import BeaconServer, DevnetBeacon

    server = BeaconServer(DevnetBeacon.from_seed(genesis_time=genesis, period=period), port=port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> int:
    import argparse

    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "beacon":
        serve_beacon(int(args[1]), int(args[2]), int(args[3]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m node.devnet", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="tiny model, short windows (tests)")
    parser.add_argument("--tasks", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=None)
    ns = parser.parse_args(args)
    options = DevnetOptions.tiny() if ns.tiny else DevnetOptions()
    options.json = ns.json
    options.live = not ns.json
    for name in ("tasks", "out_dir", "timeout"):  # only what was given; the rest keeps the defaults
        if getattr(ns, name) is not None:
            setattr(options, name, getattr(ns, name))
    return run(options)
