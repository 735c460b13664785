"""The devnet's processes: Anvil, the beacon, and one OS process per node (`python -m node.roles`),
each with a settings file of flat option names; started, watched through the chain, stopped.

Over 400 lines for a reason: `Devnet` is one start-up sequence (deploy, fund, key, configure, start,
wait) whose steps depend on each other's state; its reports and live view are in summary.py and
view.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.anvil import DEFAULT_PRIVATE_KEYS, Anvil, AnvilConfig
from chain.clients import Chain
from chain.deploy import BeaconConfig, Deployment, DeployParams, deploy_all
from chain.events import InMemoryCursorStore
from chain.keys import create_keystore, load_identity_secret
from node.devnet.errors import DevnetError
from node.devnet.options import RPT, DevnetOptions, units_to_rpt
from node.devnet.summary import Reports
from node.devnet.view import LiveView

REPO_ROOT = Path(__file__).resolve().parent.parent.parent

PASSPHRASE = "devnet-passphrase"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class NodeProc:
    """One node process of the devnet."""

    name: str
    role: str
    address: str
    data_dir: Path
    config_path: Path
    log_path: Path
    cheat: bool = False
    behaviour: str = ""  # validators: "", "lazy" or "always-fail"
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    stopped: bool = False  # stopped on purpose: whatever its exit code, not a crash

    def start(self) -> None:
        self.stopped = False
        env = dict(os.environ)
        env.update(
            HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false"
        )
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        out = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "node.roles", self.role, "--config", str(self.config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(REPO_ROOT),
            env=env,
            start_new_session=True,
        )
        out.close()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def kill(self) -> None:
        """SIGKILL (crash tests): no cleanup runs in the node."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`: a node finishes its current step first, which on two
        loaded cores has taken over 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.stopped = True
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def restart(self) -> None:
        self.kill()
        self.restarts += 1
        self.start()

    def store(self) -> Any:
        from node.store import open_store
        from node.store.database import default_store_url

        return open_store(default_store_url(self.data_dir))

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Devnet(LiveView, Reports):
    """Start, watch and stop a devnet. Used by `run` (the command) and by the e2e tests."""

    def __init__(self, options: DevnetOptions) -> None:
        self.options = options
        self.out = Path(options.out_dir).resolve()
        self.anvil: Anvil | None = None
        self.beacon_proc: subprocess.Popen[bytes] | None = None
        self.deployment: Deployment | None = None
        self.chain: Chain | None = None
        self.nodes: dict[str, NodeProc] = {}
        self.minted: dict[str, int] = defaultdict(int)
        self.events: list[Any] = []
        self._cursor = InMemoryCursorStore()
        self.started = time.monotonic()
        self.stragglers: list[str] = []
        # Told each start-up step as it happens (the command prints them; tests leave it silent).
        self.progress: Any = lambda message: None

    # ---- setup ---------------------------------------------------------------------------------

    def start(self) -> Devnet:
        o = self.options
        needed = (
            2
            + o.honest_miners
            + o.cheaters
            + o.validators
            + o.lazy_validators
            + o.failing_validators
            + o.evaluators
        )
        if needed > len(DEFAULT_PRIVATE_KEYS):
            raise DevnetError(
                f"The devnet has {len(DEFAULT_PRIVATE_KEYS)} funded accounts but {needed} are needed."
            )
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "logs").mkdir(exist_ok=True)
        # One block a second: contracts compare deadlines with block.timestamp, which must follow the
        # wall clock the nodes schedule by even when nobody sends a transaction.
        self.progress("starting Anvil")
        self.anvil = Anvil(AnvilConfig(accounts=len(DEFAULT_PRIVATE_KEYS), block_time=1)).start()
        self.progress(f"Anvil is up at {self.anvil.rpc_url}; starting the devnet drand beacon")
        genesis = int(time.time()) - o.beacon_period
        beacon_cfg, beacon_url = self._start_beacon(genesis)
        self.progress(f"beacon is up at {beacon_url}; deploying the contracts")
        from eth_account import Account

        from chain.tx import make_web3

        w3 = make_web3(self.anvil.rpc_url)
        deployer = Account.from_key(DEFAULT_PRIVATE_KEYS[0])
        params = DeployParams(
            max_task_duration=3600,
            cooldown=7200,
            min_audit_time=o.min_audit_time,
            committee_seats=o.committee_seats,
            forced_error_odds=o.forced_error_odds,
            validator_bond=o.validator_bond,
            jackpot=o.jackpot,
            treasury_seed=o.treasury_seed,
        )
        self.deployment = deploy_all(w3, deployer, beacon_cfg, params)
        self.deployment.save(self.out / "deployment.json")
        self.progress(
            f"contracts deployed ({self.out / 'deployment.json'}); funding accounts, writing keystores"
        )
        self.chain = Chain.connect(self.anvil.rpc_url, self.deployment, deployer)
        keys = list(DEFAULT_PRIVATE_KEYS[1:])
        plan: list[tuple[str, str, bool, int]] = [("proposer", "proposer", False, 10_000 * RPT)]
        plan += [(f"miner{i + 1}", "miner", False, 1_000 * RPT) for i in range(o.honest_miners)]
        plan += [(f"cheater{i + 1}", "miner", True, 1_000 * RPT) for i in range(o.cheaters)]
        plan += [(f"evaluator{i + 1}", "evaluator", False, 1_000 * RPT) for i in range(o.evaluators)]
        plan += [(f"validator{i + 1}", "validator", False, 1_000 * RPT) for i in range(o.validators)]
        plan += [(f"lazy{i + 1}", "validator", False, 1_000 * RPT) for i in range(o.lazy_validators)]
        plan += [(f"failer{i + 1}", "validator", False, 1_000 * RPT) for i in range(o.failing_validators)]
        ports = {name: free_port() for name, *_ in plan}
        identities: dict[str, str] = {}
        for (name, role, cheat, funds), key in zip(plan, keys, strict=False):
            data_dir = self.out / name
            if data_dir.exists():
                # A node dir of an earlier devnet holds a store for a chain that no longer exists.
                shutil.rmtree(data_dir)
            data_dir.mkdir()
            keystore = data_dir / "keystore.json"
            if not keystore.exists():
                create_keystore(keystore, PASSPHRASE, private_key=key, kdf="pbkdf2", iterations=2)
            (data_dir / "passphrase").write_text(PASSPHRASE + "\n")
            address = Account.from_key(key).address
            self.chain.token.mint(address, funds)
            self.minted[address] += funds
            from node.p2p import peer_id_from_secret

            secret = load_identity_secret(keystore.with_name(keystore.stem + ".p2p.key"))
            identities[name] = peer_id_from_secret(secret).to_base58()
            self.nodes[name] = NodeProc(
                name,
                role,
                address,
                data_dir,
                data_dir / "settings.json",
                self.out / "logs" / f"{name}.log",
                cheat,
                "lazy" if name.startswith("lazy") else ("always-fail" if name.startswith("failer") else ""),
            )
        for (name, role, cheat, _), node in zip(plan, self.nodes.values(), strict=True):
            bootstrap = [
                f"/ip4/127.0.0.1/tcp/{ports[other]}/p2p/{identities[other]}"
                for other, r, *_ in plan
                if other != name and r != "proposer" and role != "proposer"
            ]
            settings = self._settings(name, role, cheat, ports[name], bootstrap, beacon_url, node)
            node.config_path.write_text(json.dumps(settings, indent=1) + "\n")
        return self

    def _settings(
        self,
        name: str,
        role: str,
        cheat: bool,
        port: int,
        bootstrap: list[str],
        beacon_url: str,
        node: NodeProc,
    ) -> dict[str, Any]:
        o = self.options
        assert self.anvil is not None
        # Flat option names (node.config), as `rollproof <role>` takes them, plus the devnet knobs
        # (node.runtime.settings.RoleKnobs).
        s: dict[str, Any] = {
            "data_dir": str(node.data_dir),
            "rpc_url": self.anvil.rpc_url,
            "deployment": str(self.out / "deployment.json"),
            "keystore": str(node.data_dir / "keystore.json"),
            "passphrase_file": str(node.data_dir / "passphrase"),
            "beacon_url": [beacon_url],
            "model": o.model,
            "poll_interval": o.poll_interval,
            "threads": o.threads,
            "metrics_port": free_port(),
        }
        if role != "proposer":  # the proposer gossips nothing: it has no [p2p] options
            s.update(
                listen=f"/ip4/127.0.0.1/tcp/{port}",
                bootstrap=bootstrap,
                eclipse_protection=o.eclipse_protection,
                stake_cache_seconds=o.stake_cache_seconds,
            )
        if role == "miner":
            s.update(
                stake=units_to_rpt(self.min_stake(0)),
                cheat_model=o.cheap_model if cheat else "",
                max_tasks=o.tasks,
                train=o.train,
            )
        elif role == "validator":
            s.update(
                stake=units_to_rpt(self.min_stake(1) * (1 if node.behaviour else o.honest_validator_stake)),
                max_tasks=o.tasks,
                misbehave=node.behaviour,
            )
        elif role == "evaluator":
            s.update(stake=units_to_rpt(self.min_stake(2)))
        elif role == "proposer":
            s.update(
                min_miners=o.honest_miners + o.cheaters,
                tasks=o.tasks,
                env=o.env,
                difficulty=o.difficulty,
                num_problems=o.num_problems,
                rollouts_per_problem=o.rollouts_per_problem,
                max_tokens=o.max_tokens,
                temperature=o.temperature_milli / 1000,
                reward=units_to_rpt(o.reward),
                join_window=o.join_window,
                commit_window=o.commit_window,
                verdict_window=o.verdict_window,
                verify_window=o.reveal_window,
                # The task's auditRollouts (m) and auditPositions (k): the proposer posts them, every
                # other role reads them from the task.
                audit_count=o.audit_count,
                positions=o.positions,
            )
        return {"role": role, **s}

    def min_stake(self, role: int) -> int:
        """Each node stakes exactly the deployment's minimum for its role (miner 0, validator 1, evaluator 2)."""
        assert self.deployment is not None
        return self.deployment.params.min_stakes[role]

    def _start_beacon(self, genesis: int) -> tuple[BeaconConfig, str]:
        from chain.beacon_key import devnet_beacon_config
        from node.devnet.beacon import DevnetBeacon

        period = self.options.beacon_period
        beacon = DevnetBeacon.from_seed(genesis_time=genesis, period=period)
        port = free_port()
        log = open(self.out / "logs" / "beacon.log", "ab")  # noqa: SIM115
        self.beacon_proc = subprocess.Popen(
            [sys.executable, "-m", "node.devnet", "beacon", str(port), str(genesis), str(period)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(REPO_ROOT),
            start_new_session=True,
        )
        log.close()
        url = f"http://127.0.0.1:{port}"
        import httpx

        deadline = time.monotonic() + 90  # a cold Python start on two loaded cores has taken over 30 s
        while True:
            try:
                if httpx.get(url + "/info", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.beacon_proc.poll() is not None:
                raise DevnetError("The devnet beacon did not start; see logs/beacon.log.")
            time.sleep(0.1)
        return devnet_beacon_config(beacon.info.public_key, genesis, period), url

    def start_nodes(self, names: list[str] | None = None) -> None:
        """Start the nodes (all but the proposer by default) and wait until they are ready."""
        o = self.options
        offline = {f"validator{i + 1}" for i in o.offline_validators}
        names = names or [n for n in self.nodes if n != "proposer" and n not in offline]
        for name in names:
            self.nodes[name].start()
            self.progress(f"started {name} ({self.nodes[name].role}); loading its model")
        deadline = time.monotonic() + 300
        pending = set(names)
        while pending:
            for name in list(pending):
                node = self.nodes[name]
                if (node.data_dir / "p2p.json").exists() and node.running:
                    pending.discard(name)
                    self.progress(f"{name} is ready ({len(names) - len(pending)} of {len(names)} nodes)")
                elif not node.running:
                    raise DevnetError(
                        f"{name} exited with code {node.returncode} while starting:\n{node.log_tail()}"
                    )
            if time.monotonic() > deadline:
                raise DevnetError(f"{', '.join(sorted(pending))} did not get ready within 300 s.")
            time.sleep(0.3)

    def start_proposer(self) -> None:
        self.nodes["proposer"].start()
        self.progress("started the proposer; it posts once the miners are up")

    # ---- watching ------------------------------------------------------------------------------

    def poll_events(self) -> list[Any]:
        assert self.chain is not None
        new = self.chain.follower(self._cursor, key="devnet").drain()
        self.events.extend(new)
        return new

    def finalized_tasks(self) -> list[int]:
        return sorted({int(e.args["taskId"]) for e in self.events if e.name == "TaskFinalized"})

    def crashed(self) -> list[NodeProc]:
        return [
            n
            for n in self.nodes.values()
            if n.proc is not None and not n.stopped and n.returncode not in (None, 0)
        ]

    def wait_for(self, predicate: Any, timeout: float, what: str, view: Any = None) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            self.poll_events()
            if view is not None:
                view.update(self.render())
            bad = self.crashed()
            if bad:
                n = bad[0]
                raise DevnetError(f"{n.name} exited with code {n.returncode}:\n{n.log_tail()}")
            if time.monotonic() > deadline:
                raise DevnetError(f"Timed out after {timeout:.0f} s waiting for {what}.")
            time.sleep(0.5)

    def run_tasks(self, view: Any = None) -> None:
        """Start everything and wait until every task is finalized and the proposer has claimed."""
        o = self.options
        # The proposer loads its model alongside the others and posts once every miner is up.
        self.start_proposer()
        self.start_nodes()
        remaining = o.timeout - (time.monotonic() - self.started)
        self.wait_for(
            lambda: len(self.finalized_tasks()) >= o.tasks, remaining, f"{o.tasks} finalized tasks", view
        )
        proposer = self.nodes["proposer"]
        self.wait_for(lambda: not proposer.running, 60, "the proposer to claim its refunds", view)
        # Miners and validators claim right after finalize; give them a moment, then stop everyone.
        miners = [n for n in self.nodes.values() if n.role in ("miner", "validator") and n.proc is not None]
        try:
            self.wait_for(
                lambda: all(not n.running for n in miners), 60, "miners and validators to finish", view
            )
        except DevnetError:
            # They have settled (checked above); one still running is stopped and reported.
            self.stragglers = [n.name for n in miners if n.running]
        self.poll_events()

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()
        if self.beacon_proc is not None and self.beacon_proc.poll() is None:
            os.killpg(self.beacon_proc.pid, signal.SIGTERM)
            try:
                self.beacon_proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.beacon_proc.pid, signal.SIGKILL)
        if self.anvil is not None:
            self.anvil.stop()

    def __enter__(self) -> Devnet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- reports -------------------------------------------------------------------------------

    def label(self, address: str) -> str:
        for node in self.nodes.values():
            if node.address == address:
                return node.name
        return address[:10]
