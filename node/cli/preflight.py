"""Checks before a command sends anything on chain (ports, RPC, deployment, model, keystore), the
node's logging and /metrics, and the data-dir and keystore locks."""

from __future__ import annotations

import errno
import importlib
import json
import os
import re
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from node.cli.base import (
    err_console,
)
from node.config import (
    Config,
    UserError,
)
from node.ops.common import p2p_listen_port, rpc_chain_id, unlock_account

# ---- pre-flight checks (before anything is sent on chain) -----------------------------------------


def check_port_free(host: str, port: int, what: str, how: str) -> None:
    """Fail with a sentence when host:port cannot be bound (so the role never starts half-way)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the node's own listeners do: a predecessor's connections in TIME_WAIT (a restart right
        # after Ctrl-C) must not block the port; a live listener still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"The {what} port {port} on {host} is already in use; {how}.") from None
            raise UserError(f"Cannot listen on {host}:{port} for the {what}: {exc.strerror}.") from None


def check_rpc(cfg: Config) -> int:
    """The chain id at the RPC URL; a sentence if nothing answers there."""
    return rpc_chain_id(cfg.chain.rpc_url)


def check_deployment(cfg: Config, chain_id: int | None) -> None:
    path = Path(cfg.chain.deployment)
    if not path.is_file():
        raise UserError(
            f"The deployment file {path} does not exist; deploy the contracts with `rollproof deploy` "
            "or point --deployment at the file it wrote."
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise UserError(f"The deployment file {path} is not JSON; redeploy or fix --deployment.") from None
    found = data.get("chain_id") if isinstance(data, dict) else None
    if chain_id is not None and found is not None and int(found) != chain_id:
        raise UserError(
            f"The deployment file {path} is for chain {found}, but the RPC at {cfg.chain.rpc_url} serves chain "
            f"{chain_id}; use the matching RPC or deployment file."
        )
    if chain_id is not None:
        from chain.tx import make_web3
        from node.ops.common import load_deployment, missing_contracts, stale_deployment_sentence

        missing = missing_contracts(make_web3(cfg.chain.rpc_url), load_deployment(cfg))
        if missing:
            raise UserError(stale_deployment_sentence(str(path), chain_id, missing))


def check_model(cfg: Config) -> None:
    """The model spec must be loadable offline: a shipped alias, a local directory, or a cached hub id."""
    spec = cfg.model.model
    if spec in ("smollm2", "tiny") or re.fullmatch(r"tiny:\d+", spec):
        return
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise UserError(f"The model path {path} holds no config.json, so it is not a model directory.")
        return
    if "/" in spec and not spec.startswith(("/", ".")):
        try:
            from huggingface_hub import try_to_load_from_cache

            if isinstance(try_to_load_from_cache(spec, "config.json"), str):
                return
        except Exception:
            pass
        if os.environ.get("HF_HUB_OFFLINE") != "1":
            return  # a hub id; it is downloaded when the role loads it
    raise UserError(
        f"Unknown model {spec!r}; use 'smollm2' (shipped SmolLM2-135M-Instruct), 'tiny' (or 'tiny:<seed>'), a local model "
        "directory, or a Hugging Face id (downloaded, or with network access)."
    )


# Roles that read drand rounds (task seed, audit challenge) cannot take part in a task without one.
ROLES_NEEDING_BEACON = ("miner", "validator")


def preflight(
    cfg: Config,
    *,
    needs_account: bool = True,
    needs_model: bool = True,
    needs_p2p: bool = True,
    role: str | None = None,
) -> None:
    """Every check that can fail on user input, before a role sends anything."""
    check_port_free(
        cfg.node.metrics_host,
        cfg.node.metrics_port,
        "metrics",
        "pick another with --metrics-port or ROLLPROOF_METRICS_PORT (0 turns metrics off)",
    )
    listen = p2p_listen_port(cfg.p2p.listen) if needs_p2p else None
    if listen is not None:
        check_port_free(listen[0], listen[1], "p2p listen", "pick another with --listen or ROLLPROOF_LISTEN")
    if needs_model:
        check_model(cfg)
    # Local checks (files, passphrase) before the network, so their messages do not depend on a chain.
    if needs_account:
        cfg.account = unlock_account(cfg)
    with err_console.status(f"Connecting to {cfg.chain.rpc_url}..."):
        chain_id = check_rpc(cfg)
    check_deployment(cfg, chain_id)
    if role in ROLES_NEEDING_BEACON and not cfg.beacon.urls:
        raise UserError(
            f"A {role} reads drand beacons (task seeds and audit challenges) and none is configured; pass "
            "--beacon-url (or set ROLLPROOF_BEACON_URL or [beacon] beacon_url) to a drand relay or the "
            "network's beacon, before the node joins any task."
        )


def start_observability(cfg: Config, node_name: str) -> Any:
    """Logging and the /metrics server of a node process; returns the metrics server (or None)."""
    from node.logging import setup_logging
    from node.metrics import NodeMetrics, start_metrics_server
    from node.store import open_store

    log_file = cfg.node.log_file or str(cfg.data_dir / "node.log")
    setup_logging(cfg.node.log_level, json_lines=cfg.node.log_json, log_file=log_file, node=node_name)
    if cfg.node.metrics_port == 0:
        return None
    # The process-wide default registry, so metrics the roles register themselves are served too.
    from prometheus_client import REGISTRY

    cfg.metrics = NodeMetrics(registry=REGISTRY, store=open_store(cfg.store_url))
    return start_metrics_server(cfg.metrics, cfg.node.metrics_port, cfg.node.metrics_host)


def import_entry(module: str, attr: str, what: str) -> Callable[..., Any]:
    """`module.attr`, or a UserError saying the feature is not available in this build."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise UserError(
            f"{what} is not available in this build: {module} cannot be imported ({exc})."
        ) from None
    fn = getattr(mod, attr, None)
    if fn is None:
        raise UserError(f"{what} is not available in this build: {module} has no {attr}.")
    return fn


def bench_entry(module: str, attr: str, what: str) -> Callable[..., Any]:
    """`import_entry` for bench/, which sits next to node/ in a source checkout and is not installed."""
    root = Path(__file__).resolve().parents[2]
    if (root / "bench").is_dir() and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return import_entry(module, attr, what)


def lock_data_dir(data_dir: Path) -> Any:
    """Hold an exclusive lock on <data_dir>/node.lock for this process's lifetime.

    Two processes on one data dir would share a store and an account, and could send the same
    action twice with different nonces; the second one is refused with a sentence instead.
    """
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "node.lock"
    handle = open(path, "a+")  # kept open on purpose: the lock lives as long as the file
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise UserError(
            f"Another rollproof process (pid {holder}) is already using the data dir {data_dir}; stop it "
            "or give this node its own --data-dir."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def lock_keystore(keystore: str, data_dir: Path) -> Any:
    """Hold a shared-nothing lock on the keystore file for this process's lifetime.

    Two nodes with one account (the same keystore from two data dirs) would send transactions
    with the same nonces and replace each other's; the second is refused with a sentence.
    """
    import fcntl

    if not keystore or not Path(keystore).is_file():
        return None
    handle = open(keystore, "rb")  # noqa: SIM115 - kept open on purpose: the lock lives as long as it
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(
            f"Another rollproof process is already running with the keystore {keystore} (this one has the data "
            f"dir {data_dir}); one account can run only one node, since both would send transactions with the "
            "same nonces. Stop the other node or give this one its own keystore."
        ) from None
    return handle
