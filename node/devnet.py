"""`rollproof devnet` / `make devnet`: the whole network on one machine, through real settlement.

Anvil, the contracts, a local drand-compatible beacon, 1 proposer, N honest miners, cheating
miners (generate with a cheaper model, fill the logprobs in by prefill of the real one),
evaluators, honest validators, a lazy validator (passes everyone without auditing) and an
always-fail validator (fails everyone without auditing), each node a separate OS process (`python -m node.roles <role>`) talking
libp2p on 127.0.0.1. The orchestrator only deploys, funds, writes each node's settings and then
watches the chain like any outsider: a live view of tasks, miners, rollouts, audits, verdicts,
payouts and slashes; at the end a summary, a plot of the miners' learning curves, and every
balance reconciled against the chain. It exits non-zero when any of that fails.
"""

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chain.anvil import DEFAULT_PRIVATE_KEYS, Anvil, AnvilConfig
from chain.clients import Chain, Outcome, Vote
from chain.deploy import BeaconConfig, Deployment, DeployParams, deploy_all
from chain.events import InMemoryCursorStore
from chain.keys import create_keystore, load_identity_secret
from verifier.params import ALL_POSITIONS, DEFAULT_AUDIT_ROLLOUTS

RPT = 10**18
REPO_ROOT = Path(__file__).resolve().parent.parent
PASSPHRASE = "devnet-passphrase"


class DevnetError(Exception):
    """The devnet could not run to its summary; the message says why."""


def _d(dotted: str) -> Any:
    from node.config import option_default

    return option_default(dotted)


@dataclass
class DevnetOptions:
    """What the devnet runs. Defaults: `make devnet` (SmolLM2, 3 tasks); tests pass the tiny model.

    Values are node.config's defaults unless a comment says why the devnet differs."""

    model: str = _d("model.model")
    tasks: int = _d("devnet.tasks")
    honest_miners: int = _d("devnet.honest_miners")
    cheaters: int = _d("devnet.cheaters")
    validators: int = _d("devnet.validators")
    # The deviating validators whose losses the devnet's checks demand (issue 11); not options.
    lazy_validators: int = 1  # vote PASS on every miner without auditing
    failing_validators: int = 1  # vote FAIL on every miner without auditing
    evaluators: int = _d("devnet.evaluators")
    out_dir: Path = Path(_d("devnet.out_dir"))
    timeout: float = _d("devnet.timeout")
    json: bool = _d("devnet.json")
    live: bool = True
    env: str = _d("proposer.env")
    difficulty: int = _d("proposer.difficulty")
    num_problems: int = _d("proposer.num_problems")
    rollouts_per_problem: int = _d("proposer.rollouts_per_problem")
    max_tokens: int = 40  # devnet: shorter rollouts, so a task fits the windows on busy CPUs
    temperature_milli: int = round(_d("proposer.temperature") * 1000)
    reward: int = 100 * RPT  # devnet: a reward large enough that payouts show in the summary
    beacon_period: int = 2
    # Devnet windows: shorter than a real network's, long enough for SmolLM2 on a laptop's CPU.
    join_window: int = 20  # a miner's training step between tasks takes ~10 s on busy cores
    commit_window: int = 75
    verdict_window: int = 50
    reveal_window: int = 12
    audit_count: int = DEFAULT_AUDIT_ROLLOUTS  # m, posted by the devnet's proposer (verifier.params)
    positions: int = ALL_POSITIONS  # k, 0 = every position
    cheap_model: str = "tiny:7"
    train: bool = _d("miner.train")
    threads: int = _d("model.threads")
    poll_interval: float = 0.5  # devnet: react within the short windows
    # Protections that 127.0.0.1 cannot satisfy, switched off here and only here: eclipse protection
    # wants mesh peers on >= 3 distinct IPs, and every devnet peer is 127.0.0.1. Each node logs a
    # warning that it is off.
    eclipse_protection: bool = False
    # Nodes stake seconds before the first task; a 30 s cache of "not staked" would drop their
    # first gossip within the devnet's short windows.
    stake_cache_seconds: float = 5.0
    offline_validators: list[int] = field(default_factory=list)  # validator indexes never started
    # Settlement parameters of the devnet (deploy-time; docs/SECURITY.md has the defaults' arithmetic).
    # With a handful of miners per task the devnet raises the forced-error odds (F = 4 instead of 8) so
    # forced errors, and the lazy validator passing them, show up within a few tasks; it keeps the
    # jackpot (per caught forced miner, split by seats) small against the bond (per seat) so that, with
    # only two honest miners, failing everyone cannot pay off through jackpots on tasks where both happen
    # to be forced; and it draws 32 seats so the deviating validators (1 x the minimum stake against 3 x
    # for honest ones) sit on nearly every committee.
    forced_error_odds: int = 4
    committee_seats: int = 32
    validator_bond: int = 5 * RPT  # per seat: 32 seats x 5 RPT fits a lone 300 RPT honest validator
    jackpot: int = 5 * RPT  # per caught forced miner
    treasury_seed: int = 200 * RPT  # funds jackpots from the first task
    min_audit_time: int = 20  # verdict window after the challenge round, enforced by postTask
    honest_validator_stake: int = 3  # honest validators stake this many times the minimum

    @classmethod
    def tiny(cls, **overrides: Any) -> DevnetOptions:
        """The test profile: the tiny model, short windows, few tokens."""
        base: dict[str, Any] = dict(
            model="tiny",
            tasks=2,
            num_problems=2,
            rollouts_per_problem=2,
            max_tokens=12,
            beacon_period=1,
            join_window=8,
            commit_window=26,  # the seed round comes BEACON_LAG (12 s) after the join deadline
            verdict_window=26,  # the challenge round comes BEACON_LAG after the commit deadline: ~13 s of audit
            reveal_window=12,  # TaskBoard.MIN_REVEAL_WINDOW: one 12 s block slot
            audit_count=2,
            positions=0,
            cheap_model="tiny:7",
            env="devnet_letters",
            live=False,
            min_audit_time=8,
        )
        base.update(overrides)
        return cls(**base)


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

    def start(self) -> None:
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

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
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


class Devnet:
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
        s: dict[str, Any] = {
            "role": role,
            "data_dir": str(node.data_dir),
            "rpc_url": self.anvil.rpc_url,
            "deployment": str(self.out / "deployment.json"),
            "keystore": str(node.data_dir / "keystore.json"),
            "passphrase_file": str(node.data_dir / "passphrase"),
            "beacon_urls": [beacon_url],
            "model": o.model,
            "listen": f"/ip4/127.0.0.1/tcp/{port}",
            "bootstrap": bootstrap,
            "poll_interval": o.poll_interval,
            "threads": o.threads,
            "metrics_port": free_port(),
            "eclipse_protection": o.eclipse_protection,
            "stake_cache_seconds": o.stake_cache_seconds,
        }
        if role == "miner":
            s.update(
                stake=self.min_stake(0),
                cheat=cheat,
                cheap_model=o.cheap_model,
                max_tasks=o.tasks,
                train=o.train,
            )
        elif role == "validator":
            s.update(
                stake=self.min_stake(1) * (1 if node.behaviour else o.honest_validator_stake),
                audit_count=o.audit_count,
                positions=o.positions,
                max_tasks=o.tasks,
                misbehave=node.behaviour,
            )
        elif role == "evaluator":
            s.update(stake=self.min_stake(2))
        elif role == "proposer":
            s.update(
                min_miners=o.honest_miners + o.cheaters,
                tasks=o.tasks,
                env=o.env,
                difficulty=o.difficulty,
                num_problems=o.num_problems,
                rollouts_per_problem=o.rollouts_per_problem,
                max_tokens=o.max_tokens,
                temperature_milli=o.temperature_milli,
                reward=o.reward,
                join_window=o.join_window,
                commit_window=o.commit_window,
                verdict_window=o.verdict_window,
                reveal_window=o.reveal_window,
            )
        return s

    def min_stake(self, role: int) -> int:
        """Each node stakes exactly the deployment's minimum for its role (miner 0, validator 1, evaluator 2)."""
        assert self.deployment is not None
        return self.deployment.params.min_stakes[role]

    def _start_beacon(self, genesis: int) -> tuple[BeaconConfig, str]:
        from verifier.beacon import pubkey_eip2537
        from verifier.beacon_server import DevnetBeacon

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

        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/info", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.beacon_proc.poll() is not None:
                raise DevnetError("The devnet beacon did not start; see logs/beacon.log.")
            time.sleep(0.1)
        info = beacon.info
        cfg = BeaconConfig("devnet", info.public_key, pubkey_eip2537(info.public_key), genesis, period)
        return cfg, url

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
        return [n for n in self.nodes.values() if n.proc is not None and n.returncode not in (None, 0)]

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

    def render(self) -> Any:
        from rich.console import Group
        from rich.table import Table

        by_task: dict[int, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
        miners: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        validators: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for e in self.events:
            a = e.args
            if "taskId" in a:
                t = by_task[int(a["taskId"])]
            if e.name == "TaskPosted":
                t["posted"] = 1
            elif e.name == "Joined":
                t["joined"] += 1
            elif e.name == "Committed":
                t["committed"] += 1
                t["rollouts"] += int(a["count"])
                miners[a["miner"]]["rollouts"] += int(a["count"])
            elif e.name == "VerdictCommitted":
                t["verdict commits"] += 1
                validators[a["validator"]]["commits"] += 1
            elif e.name == "VerdictRevealed":
                t["verdicts"] += 1
                t["audited"] += int(a["audited"])
                vote = Vote(int(a["vote"]))
                miners[a["miner"]][
                    {Vote.PASS: "pass votes", Vote.FAIL: "fail votes"}.get(vote, "unavailable")
                ] += 1
            elif e.name == "MinerSettled":
                m = miners[a["miner"]]
                m[Outcome(int(a["outcome"])).name.lower()] += 1
                m["paid"] += int(a["paid"])
                m["slashed"] += int(a["slashed"])
            elif e.name == "TaskFinalized":
                t["finalized"] = 1
                t["refund"] = int(a["refund"])
            elif e.name == "ValidatorSettled":
                v = validators[a["validator"]]
                v["penalized" if a["penalized"] else "settled"] += 1
                v["paid"] += int(a["fee"]) + int(a["jackpot"])
                v["forfeited"] += int(a["forfeited"])

        tasks = Table(title="tasks", expand=False)
        for col in (
            "task",
            "joined",
            "committed",
            "rollouts",
            "verdict commits",
            "verdicts",
            "audited",
            "state",
        ):
            tasks.add_column(col)
        for tid in sorted(by_task):
            t = by_task[tid]
            state = (
                "finalized"
                if t.get("finalized")
                else ("verdicts" if t["verdicts"] else ("committed" if t["committed"] else "open"))
            )
            tasks.add_row(
                str(tid),
                *(
                    str(t[c])
                    for c in ("joined", "committed", "rollouts", "verdict commits", "verdicts", "audited")
                ),
                state,
            )
        people = Table(title="miners", expand=False)
        for col in (
            "miner",
            "rollouts",
            "pass votes",
            "fail votes",
            "passed",
            "failed",
            "forced",
            "paid RPT",
            "slashed RPT",
        ):
            people.add_column(col)
        for addr, m in sorted(miners.items(), key=lambda kv: self.label(kv[0])):
            people.add_row(
                self.label(addr),
                str(m["rollouts"]),
                str(m["pass votes"]),
                str(m["fail votes"]),
                str(m["passed"]),
                str(m["failed"]),
                str(m["forced"]),
                f"{m['paid'] / RPT:.2f}",
                f"{m['slashed'] / RPT:.2f}",
            )
        judges = Table(title="validators", expand=False)
        for col in ("validator", "verdict commits", "settled", "penalized", "paid RPT", "forfeited RPT"):
            judges.add_column(col)
        for addr, v in sorted(validators.items(), key=lambda kv: self.label(kv[0])):
            judges.add_row(
                self.label(addr),
                str(v["commits"]),
                str(v["settled"]),
                str(v["penalized"]),
                f"{v['paid'] / RPT:.2f}",
                f"{v['forfeited'] / RPT:.2f}",
            )
        procs = " ".join(
            f"{n.name}:{'up' if n.running else ('off' if n.proc is None else f'exit {n.returncode}')}"
            for n in self.nodes.values()
        )
        elapsed = time.monotonic() - self.started
        from rich.text import Text

        return Group(Text(f"rollproof devnet  {elapsed:5.0f} s  {procs}"), tasks, people, judges)

    def learning_curves(self) -> dict[str, list[tuple[int, float]]]:
        """Per miner: (task, mean reward of its own rollouts) from its store, in task order."""
        curves: dict[str, list[tuple[int, float]]] = {}
        for node in self.nodes.values():
            if node.role != "miner":
                continue
            with node.store() as store:
                points = []
                for tid in self.finalized_tasks():
                    rows = store.own_rollouts(tid)
                    if rows:
                        points.append((tid, sum(r.claimed_reward for r in rows) / len(rows) / 1e6))
                curves[node.name] = points
        return curves

    def plot(self, curves: dict[str, list[tuple[int, float]]], path: Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for name, points in curves.items():
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        ticks = sorted({t for points in curves.values() for t, _ in points})
        if ticks:
            ax.set_xticks(ticks)
        ax.set_xlabel("task")
        ax.set_ylabel("mean reward of own rollouts")
        ax.set_title("miners' learning curves")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path

    def reconcile(self) -> list[str]:
        """Every balance against the chain; returns the mismatches (empty when all agree)."""
        assert self.chain is not None
        problems: list[str] = []
        c = self.chain
        staked, slashed, claimed, credited, escrowed, withdrawn = (defaultdict(int) for _ in range(6))
        for e in self.events:
            a = e.args
            if e.name == "Staked":
                staked[a["who"]] += int(a["amount"])
            elif e.name == "Slashed":
                slashed[a["who"]] += int(a["amount"])
            elif e.name == "Claimed":
                claimed[a["who"]] += int(a["amount"])
            elif e.name == "Credited":
                credited[a["who"]] += int(a["amount"])
            elif e.name == "TaskPosted":
                escrowed[a["proposer"]] += int(a["reward"])
            elif e.name == "Withdrawn":
                withdrawn[a["who"]] += int(a["amount"])
        total = 0
        for node in self.nodes.values():
            who = node.address
            balance = c.token.balance_of(who)
            total += balance
            expected = self.minted[who] - staked[who] - escrowed[who] + claimed[who] + withdrawn[who]
            if balance != expected:
                problems.append(
                    f"{node.name}: token balance {balance} != minted - staked - escrowed + claimed = {expected}"
                )
            claimable = c.settlement.claimable(who)
            if credited[who] != claimed[who] + claimable:
                problems.append(
                    f"{node.name}: credited {credited[who]} != claimed {claimed[who]} + claimable {claimable}"
                )
            stake = sum(c.stakes.active_stake(who, r) + c.stakes.cooling_stake(who, r) for r in (0, 1, 2))
            if stake != staked[who] - slashed[who] - withdrawn[who]:
                problems.append(
                    f"{node.name}: stake {stake} != staked {staked[who]} - slashed {slashed[who]}"
                )
        held = sum(
            c.token.balance_of(self.deployment.address(n))
            for n in ("StakeManager", "TaskBoard", "Settlement")
        )  # type: ignore[union-attr]
        if total + held != c.token.total_supply():
            problems.append(f"accounts {total} + contracts {held} != total supply {c.token.total_supply()}")
        return problems

    def summary(self) -> dict[str, Any]:
        assert self.chain is not None
        s = self.chain.settlement
        o = self.options
        tasks = []
        for tid in sorted({int(e.args["taskId"]) for e in self.events if e.name == "TaskPosted"}):
            ts = s.task_settlement(tid)
            task = self.chain.board.get_task(tid)
            entry: dict[str, Any] = {
                "task": tid,
                "difficulty": task.params.difficulty,
                "finalized": ts.finalized,
                "refund": ts.refund,
                "validator_pool": ts.validator_pool,
                "miners": {},
                "validators": {},
            }
            for m in s.miners(tid):
                ms = s.miner_state(tid, m)
                entry["miners"][self.label(m)] = {
                    "outcome": ms.outcome.name,
                    "score": ms.score,
                    "paid": ms.paid,
                    "slashed": ms.slashed,
                }
            for v in s.validators(tid):
                vs = s.validator_state(tid, v)
                entry["validators"][self.label(v)] = {
                    "seats": vs.seats,
                    "revealed": vs.revealed,
                    "settled": vs.settled,
                    "penalized": vs.penalized,
                    "fee": vs.fee,
                    "jackpot": vs.jackpot,
                    "paid": vs.fee + vs.jackpot,
                    "forfeited": vs.bond if vs.penalized else 0,
                }
            tasks.append(entry)
        totals = {}
        for node in self.nodes.values():
            paid = sum(
                t["miners"].get(node.name, {}).get("paid", 0)
                + t["validators"].get(node.name, {}).get("paid", 0)
                for t in tasks
            )
            slashed_total = sum(
                t["miners"].get(node.name, {}).get("slashed", 0)
                + t["validators"].get(node.name, {}).get("forfeited", 0)
                for t in tasks
            )
            totals[node.name] = {
                "address": node.address,
                "role": node.role,
                "cheater": node.cheat,
                "behaviour": node.behaviour,
                "seats": sum(t["validators"].get(node.name, {}).get("seats", 0) for t in tasks),
                "net": paid - slashed_total,
                "paid": paid,
                "slashed": slashed_total,
                "balance": self.chain.token.balance_of(node.address),
                "restarts": node.restarts,
            }
        curves = self.learning_curves()
        problems = self.reconcile()
        checks = self.checks(tasks, totals)
        return {
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(o).items()},
            "seconds": round(time.monotonic() - self.started, 1),
            "tasks": tasks,
            "nodes": totals,
            "learning_curves": {k: [[t, round(r, 4)] for t, r in v] for k, v in curves.items()},
            "reconciliation_problems": problems,
            "stragglers": self.stragglers,
            "checks": checks,
            "ok": not problems and all(checks.values()),
        }

    def checks(self, tasks: list[dict[str, Any]], totals: dict[str, Any]) -> dict[str, bool]:
        o = self.options
        honest = [n for n in self.nodes.values() if n.role == "miner" and not n.cheat]
        cheaters = [n for n in self.nodes.values() if n.cheat]
        offline = {f"validator{i + 1}" for i in o.offline_validators}
        judges = [
            n
            for n in self.nodes.values()
            if n.role == "validator" and not n.behaviour and n.name not in offline
        ]
        deviants = [n for n in self.nodes.values() if n.behaviour]
        out = {
            f"{o.tasks} tasks finalized": sum(1 for t in tasks if t["finalized"]) >= o.tasks,
            "every honest miner paid": all(totals[n.name]["paid"] > 0 for n in honest),
            "no honest miner slashed": all(totals[n.name]["slashed"] == 0 for n in honest),
            "every honest miner took part in every task": all(
                t["miners"].get(n.name, {}).get("outcome") not in (None, "NO_COMMIT")
                for t in tasks
                for n in honest
            ),
        }
        if judges:
            out["every honest validator paid"] = all(totals[n.name]["paid"] > 0 for n in judges)
        # Honest parties never lose stake: no honest miner slashed (above), no honest validator's bond forfeited.
        out["no honest validator penalized"] = all(totals[n.name]["slashed"] == 0 for n in judges)
        if cheaters and judges:
            out["every cheater slashed"] = all(totals[n.name]["slashed"] > 0 for n in cheaters)
            out["no cheater paid"] = all(totals[n.name]["paid"] == 0 for n in cheaters)
        for n in deviants:
            out[f"{n.behaviour} validator {n.name} lost money"] = totals[n.name]["net"] < 0
        return out


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"devnet summary ({summary['seconds']:.0f} s)")
    for col in ("node", "role", "seats", "paid RPT", "slashed/forfeited RPT", "net RPT", "balance RPT"):
        table.add_column(col)
    for name, n in summary["nodes"].items():
        role = (
            "cheater"
            if n["cheater"]
            else (f"{n['behaviour']} {n['role']}" if n.get("behaviour") else n["role"])
        )
        table.add_row(
            name,
            role,
            str(n.get("seats", 0)) if n["role"] == "validator" else "",
            f"{n['paid'] / RPT:.3f}",
            f"{n['slashed'] / RPT:.3f}",
            f"{n['net'] / RPT:+.3f}",
            f"{n['balance'] / RPT:.3f}",
        )
    console.print(table)
    for t in summary["tasks"]:
        outcomes = ", ".join(
            f"{m}: {v['outcome']} score {v['score'] / 1e6:.2f}" for m, v in t["miners"].items()
        )
        console.print(f"task {t['task']} (difficulty {t['difficulty']}): {outcomes}")
        judged = ", ".join(
            f"{v}: {j['seats']} seats, {'PENALIZED' if j['penalized'] else 'ok'}, "
            f"+{j['paid'] / RPT:.2f} -{j['forfeited'] / RPT:.2f} RPT"
            for v, j in t["validators"].items()
        )
        console.print(f"  committee: {judged or 'nobody committed'}")
    for name, ok in summary["checks"].items():
        console.print(f"[{'green' if ok else 'red'}]{'ok  ' if ok else 'FAIL'}[/] {name}")
    for p in summary["reconciliation_problems"]:
        console.print(f"[red]reconciliation: {p}[/]")
    if not summary["reconciliation_problems"]:
        console.print("[green]ok  [/] every balance reconciled against the chain")
    if summary.get("plot"):
        console.print(f"learning curves: {summary['plot']}")


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


def options_from_config(config: Any) -> DevnetOptions:
    """DevnetOptions from `rollproof devnet`'s node.config.Config: its [devnet] and [model] options."""
    d = config.devnet
    chosen: dict[str, Any] = dict(
        tasks=d.tasks,
        honest_miners=d.honest_miners,
        cheaters=d.cheaters,
        validators=d.validators,
        evaluators=d.evaluators,
        out_dir=Path(d.out_dir),
        timeout=d.timeout,
        json=d.json,
        live=not d.json,
        threads=config.model.threads,
    )
    if config.model.model == "tiny":
        # The tiny profile is quiet for tests (DevnetOptions.tiny), but the command shows its
        # start-up steps and live view in a terminal like any other model.
        return DevnetOptions.tiny(**chosen)
    return DevnetOptions(model=config.model.model, **chosen)


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
    from verifier.beacon_server import BeaconServer, DevnetBeacon

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


if __name__ == "__main__":
    raise SystemExit(main())
