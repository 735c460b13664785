"""`rollproof doctor`: every check a node's start-up depends on, each named OK or FAULT.

Runs read-only (no passphrase, no transaction) and goes on after a fault, so one run names every
fault at once. The exit code is 0 only when every check is OK.
"""

from __future__ import annotations

import errno
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from node.config import Config, UserError
from node.ops.common import (
    MIN_GAS_WEI,
    ROLES,
    Report,
    eth,
    load_deployment,
    missing_contracts,
    p2p_listen_port,
    role_index,
    rpc_chain_id,
    rpt,
    stale_deployment_sentence,
)

# A node whose clock is further off than this mis-times its deadlines and beacon rounds.
MAX_CLOCK_SKEW_S = 10
CONNECT_TIMEOUT_S = 2.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


class Doctor:
    def __init__(self, cfg: Config, role: str) -> None:
        self.cfg = cfg
        self.role = role
        self.checks: list[Check] = []
        self.chain: Any = None
        self.deployment: Any = None
        self.address: str | None = None

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    def run(self) -> list[Check]:
        for step in (
            self.rpc,
            self.contracts,
            self.beacon_contract,
            self.beacon_relay,
            self.ports,
            self.account,
            self.peers,
        ):
            try:
                step()
            except UserError as exc:
                self.add(step.__name__.replace("_", " "), False, str(exc))
            except Exception as exc:  # noqa: BLE001 - a doctor names every fault, it never stops at one
                self.add(step.__name__.replace("_", " "), False, f"{type(exc).__name__}: {exc}")
        return self.checks

    # ---- chain --------------------------------------------------------------------------------
    def rpc(self) -> None:
        from chain.tx import make_web3

        chain_id = rpc_chain_id(self.cfg.chain.rpc_url)
        self.add("rpc", True, f"{self.cfg.chain.rpc_url} answers, chain id {chain_id}")
        self.deployment = load_deployment(self.cfg)
        if chain_id != self.deployment.chain_id:
            self.add(
                "chain id",
                False,
                f"the deployment file {self.cfg.chain.deployment} is for chain {self.deployment.chain_id}, "
                f"the RPC serves chain {chain_id}",
            )
            self.deployment = None
            return
        self.add("chain id", True, f"deployment file {self.cfg.chain.deployment} is for chain {chain_id}")
        self.w3 = make_web3(self.cfg.chain.rpc_url)
        head = self.w3.eth.get_block("latest")
        skew = int(head["timestamp"]) - int(time.time())
        # Anvil stamps a block when it is mined, so an idle chain's head is old; only a head from the
        # future says this machine's clock is behind.
        self.add(
            "clock vs chain",
            skew <= MAX_CLOCK_SKEW_S,
            f"chain head {head['number']} stamped {skew:+d} s from this clock"
            + (
                ""
                if skew <= MAX_CLOCK_SKEW_S
                else f": this clock is behind by more than {MAX_CLOCK_SKEW_S} s"
            ),
        )

    def contracts(self) -> None:
        if self.deployment is None:
            return
        from chain.clients import Chain

        missing = missing_contracts(self.w3, self.deployment)
        if missing:
            self.add(
                "contracts",
                False,
                stale_deployment_sentence(self.cfg.chain.deployment, self.deployment.chain_id, missing),
            )
            self.deployment = None
            return
        names = ", ".join(self.deployment.addresses)
        self.add("contracts", True, f"code at every deployment address ({names})")
        self.chain = Chain(self.w3, self.deployment, None)

    def beacon_contract(self) -> None:
        if self.chain is None:
            return
        want = self.deployment.beacon
        on_chain = (self.chain.beacon.genesis(), self.chain.beacon.period())
        key = bytes(self.chain.beacon.view("publicKey"))
        ok = on_chain == (want.genesis, want.period) and key == bytes(want.public_key_eip2537)
        self.add(
            "beacon contract",
            ok,
            f"DrandBeacon genesis {on_chain[0]}, period {on_chain[1]} s"
            + (
                ", key matches the deployment file"
                if ok
                else f"; the deployment file says genesis {want.genesis}, period {want.period} s and its own key"
            ),
        )

    def beacon_relay(self) -> None:
        urls = list(self.cfg.beacon.urls)
        if not urls:
            needs = self.role in ("miner", "validator")
            self.add(
                "beacon relay",
                not needs,
                "no --beacon-url configured"
                + (f"; a {self.role} reads drand rounds and cannot run without one" if needs else ""),
            )
            return
        if self.deployment is None:
            return
        from node.runtime.beacon_client import beacon_client
        from node.runtime.errors import RoleError

        try:
            client = beacon_client(urls, self.deployment)
        except RoleError as exc:
            self.add("beacon relay", False, str(exc))
            return
        try:
            info = client.info()
            latest = client.latest()
        finally:
            client.close()
        expected = info.round_at(time.time())
        skew_s = (expected - latest.round) * info.period
        self.add("beacon relay", True, f"{', '.join(urls)} serves the deployed beacon (round {latest.round})")
        self.add(
            "clock vs beacon",
            abs(skew_s) <= max(MAX_CLOCK_SKEW_S, 2 * info.period),
            f"this clock expects round {expected}, the relay's latest is {latest.round} ({skew_s:+d} s)",
        )

    # ---- this machine ---------------------------------------------------------------------------
    def ports(self) -> None:
        wanted = []
        if self.cfg.node.metrics_port:
            wanted.append(("metrics port", self.cfg.node.metrics_host, self.cfg.node.metrics_port))
        # A proposer runs no p2p host (it posts and settles on chain only), so 4001 held by the
        # validator beside it is no fault.
        listen = p2p_listen_port(self.cfg.p2p.listen) if self.role != "proposer" else None
        if listen is not None and listen[1]:
            wanted.append(("p2p port", listen[0], listen[1]))
        running = running_node_pid(self.cfg.data_dir)
        for name, host, port in wanted:
            problem = port_problem(host, port)
            if problem is None:
                self.add(name, True, f"{host}:{port} is free")
            elif running is not None and "in use" in problem:
                self.add(
                    name, True, f"{host}:{port} is in use by this data dir's running node (pid {running})"
                )
            else:
                self.add(name, False, f"{host}:{port} {problem}")

    def account(self) -> None:
        if not self.cfg.chain.keystore:
            self.add(
                "keystore", False, "no keystore configured (--keystore); create one with `rollproof keys new`"
            )
            return
        from chain.keys import (
            identity_path_for,
            identity_public_key,
            keystore_address,
            load_identity_secret,
            peer_id_bytes,
        )

        self.address = keystore_address(self.cfg.chain.keystore)
        self.add("keystore", True, f"{self.cfg.chain.keystore} holds account {self.address}")
        identity = Path(self.cfg.identity_key or identity_path_for(self.cfg.chain.keystore))
        try:
            peer = peer_id_bytes(identity_public_key(load_identity_secret(identity)))
        except Exception as exc:  # noqa: BLE001 - KeyFileError and friends, as a finding
            self.add("identity key", False, str(exc))
            peer = None
        if self.chain is None:
            return
        gas = self.chain.eth_balance(self.address)
        self.add(
            "gas",
            gas >= MIN_GAS_WEI,
            f"{eth(gas)}"
            + ("" if gas >= MIN_GAS_WEI else f"; send at least {eth(MIN_GAS_WEI)} for transactions"),
        )
        if self.role != "proposer":
            index = role_index(self.role)
            active, minimum = (
                self.chain.stakes.active_stake(self.address, index),
                self.chain.stakes.min_stake(index),
            )
            self.add(
                f"{self.role} stake",
                active >= minimum,
                f"{rpt(active)} active, minimum {rpt(minimum)}"
                + (
                    ""
                    if active >= minimum
                    else f"; `rollproof stake add {_rpt_num(minimum - active)} --role {self.role}`"
                ),
            )
        if peer is not None:
            bound = bytes(self.chain.stakes.peer_id_of(self.address))
            if not bound:
                self.add("peer id", True, "not registered yet (the node registers it at start)")
            else:
                self.add(
                    "peer id",
                    bound == peer,
                    "registered on chain matches the identity key"
                    if bound == peer
                    else "the peer id registered on chain is not this identity key's; `rollproof keys register`",
                )

    def peers(self) -> None:
        from node.p2p import deployment_bootstrap

        # The deployment file's peers count as much as --bootstrap (nodes dial both); our own
        # address there (the first operator's node) is not a peer to reach.
        own = self._own_peer_id()
        named = [*self.cfg.p2p.bootstrap, *deployment_bootstrap(self.cfg.chain.deployment)]
        addrs = [a for a in dict.fromkeys(named) if not (own and a.endswith(f"/p2p/{own}"))]
        if not addrs:
            self.add("peers", True, "no bootstrap peers to dial (here or in the deployment file)")
            return
        for addr in addrs:
            problem = dial_problem(addr)
            self.add("peer", problem is None, f"{addr}" + (" answers" if problem is None else f": {problem}"))

    def _own_peer_id(self) -> str | None:
        try:
            from chain.keys import load_identity_secret
            from node.p2p import peer_id_from_secret

            key = self.cfg.identity_key
            return peer_id_from_secret(load_identity_secret(key)).to_base58() if key else None
        except Exception:  # noqa: BLE001 - a missing key is the account check's finding, not this one's
            return None


def _rpt_num(amount: int) -> str:
    return rpt(amount).removesuffix(" RPT")


def port_problem(host: str, port: int) -> str | None:
    """None when host:port can be bound (as the node will, with SO_REUSEADDR), else why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "is in use by another process"
            return f"cannot be bound: {exc.strerror}"
    return None


def dial_problem(multiaddr: str) -> str | None:
    """None when a TCP connection to the multiaddr's host and port opens, else why not."""
    parts = multiaddr.strip("/").split("/")
    if len(parts) < 4 or parts[0] not in ("ip4", "ip6", "dns", "dns4", "dns6") or parts[2] != "tcp":
        return "not a /ip4|ip6|dns/<host>/tcp/<port> address"
    try:
        with socket.create_connection((parts[1], int(parts[3])), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"cannot connect ({exc.strerror or type(exc).__name__})"


def running_node_pid(data_dir: Path) -> int | None:
    """The pid holding <data_dir>/node.lock, if that process is alive."""
    import fcntl

    path = Path(data_dir) / "node.lock"
    if not path.is_file():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None


def doctor(cfg: Config, role: str = "miner") -> Report:
    if role not in (*ROLES, "proposer"):
        raise UserError(f"Unknown role {role!r}; use one of: {', '.join((*ROLES, 'proposer'))}.")
    checks = Doctor(cfg, role).run()
    ok = all(c.ok for c in checks)
    width = max(len(c.name) for c in checks)
    lines = [f"{'OK   ' if c.ok else 'FAULT'} {c.name:<{width}}  {c.detail}" for c in checks]
    faults = [c for c in checks if not c.ok]
    lines.append("All OK." if ok else f"{len(faults)} fault(s): {', '.join(c.name for c in faults)}.")
    return Report({"ok": ok, "role": role, "checks": [asdict(c) for c in checks]}, lines, ok=ok)
