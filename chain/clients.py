"""Typed clients: one small class per contract, plain dataclasses out, no web3 types leaking.

Writes go through the account's `Sender` (one nonce sequence per account). Actions a node
may repeat after a restart (register_peer, join, commit, commit_verdict, reveal_verdict,
record_beacon, finalize, claim) first read on-chain state and return None when the action
is already done, so a node restarted mid-action never sends it twice.

Over 400 lines for a reason: the contracts' types (enums, the structs as dataclasses, the
hashes both sides compute) and one thin client per contract behind the `Chain` facade are one
binding of one ABI set; they change together whenever a contract does. (A split into types and
clients is the obvious cut if it grows further.)
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from chain.artifacts import load_abi
from chain.deploy import Deployment
from chain.errors import ChainError, ChainRevert, format_rpt, revert_from_exception, role_name
from chain.events import ChainEvent, CursorStore, EventDecoder, FollowerConfig, LogFollower
from chain.keys import identity_public_key, peer_binding_signature, peer_id_bytes
from chain.tx import Receipt, Sender, SenderConfig, make_web3, with_retries


class Role(IntEnum):
    MINER = 0
    VALIDATOR = 1
    EVALUATOR = 2


class TaskStatus(IntEnum):
    NONE = 0
    OPEN = 1
    CANCELLED = 2
    FINALIZED = 3


class Outcome(IntEnum):
    """A miner's outcome (PROTOCOL.md §2.7), set by finalize."""

    NONE = 0
    PASSED = 1
    FAILED = 2
    NO_QUORUM = 3
    UNDECIDED = 4
    FORCED = 5
    NO_COMMIT = 6


class Vote(IntEnum):
    """A committee member's vote on one miner."""

    NONE = 0
    PASS = 1
    FAIL = 2
    UNAVAILABLE = 3  # openings not obtainable: not attributable, never a slash


class Check(IntEnum):
    """What a FAIL vote names as its evidence."""

    NONE = 0
    STRUCTURE = 1
    TOKEN = 2
    LOGPROB = 3
    REWARD = 4
    MODEL = 5


class Fraud(IntEnum):
    """What a fraud proof showed about a committed leaf (PROTOCOL.md §2.10)."""

    NONE = 0
    WRONG_TASK = 1
    WRONG_MINER = 2
    PROBLEM_OUT_OF_RANGE = 3
    ROLLOUT_OUT_OF_RANGE = 4
    REWARD_ABOVE_ONE = 5


class Ruling(IntEnum):
    """A dispute's state (PROTOCOL.md §2.10): OPEN until resolve, then the jury's ruling."""

    NONE = 0
    OPEN = 1
    UPHELD = 2  # the FAIL stands; the deposit joins the slash
    OVERTURNED = 3  # the miner is PASSED; the first committee's FAIL voters lose their bonds
    UNRESOLVED = 4  # no jury quorum or supermajority: the miner is UNDECIDED, the deposit returned


@dataclass(frozen=True)
class Leaf:
    """A rollout leaf's preimage (PROTOCOL.md §6), as `Disputes.proveFraud` takes it."""

    task_id: int
    miner: str
    p: int
    g: int
    tokens_hash: bytes
    logprobs_hash: bytes
    claimed_reward: int

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.task_id,
            to_checksum_address(self.miner),
            self.p,
            self.g,
            self.tokens_hash,
            self.logprobs_hash,
            self.claimed_reward,
        )


class Dtype(IntEnum):
    FP32 = 0
    BF16 = 1


@dataclass(frozen=True)
class TaskParams:
    env_id: bytes  # keccak256 of the environment name; see env_id()
    difficulty: int
    num_problems: int
    rollouts_per_problem: int
    max_tokens: int
    temperature_milli: int
    base_model_hash: bytes
    reward: int
    join_deadline: int
    commit_deadline: int
    verdict_deadline: int
    verify_deadline: int
    max_miners: int = 16  # 1..128; per-miner cap = miner pool / max_miners
    audit_rollouts: int = 3  # m: rollouts audited per miner, 1..P*G (verifier.params default)
    audit_positions: int = 0  # k: positions checked per audited rollout, 0 = every position
    # The protocol's calibrated defaults (PROTOCOL §9.2; verifier.params holds them, and a test keeps
    # these equal: chain/ does not import the verifier, which pulls in torch).
    logprob_tol_nano: int = 150_000  # |delta logprob| tolerance in 1e-9 nats (1.5e-4)
    edge_slack_nano: int = 10_000  # inverse-CDF interval slack in 1e-9 (1e-5)
    dtype: int = Dtype.FP32
    # The base model tokenizer's hash (verifier.tokenizer.tokenizer_hash, PROTOCOL §5). No default:
    # postTask refuses zero (ZeroTokenizerHash), so every caller names the tokenizer it posts for.
    tokenizer_hash: bytes = field(kw_only=True)

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.env_id,
            self.difficulty,
            self.num_problems,
            self.rollouts_per_problem,
            self.max_tokens,
            self.temperature_milli,
            self.base_model_hash,
            self.reward,
            self.join_deadline,
            self.commit_deadline,
            self.verdict_deadline,
            self.verify_deadline,
            self.max_miners,
            self.audit_rollouts,
            self.audit_positions,
            self.logprob_tol_nano,
            self.edge_slack_nano,
            int(self.dtype),
            self.tokenizer_hash,
        )

    @property
    def logprob_tolerance(self) -> float:
        """The |delta logprob| tolerance in nats."""
        return self.logprob_tol_nano / 1e9

    @property
    def edge_slack(self) -> float:
        return self.edge_slack_nano / 1e9


@dataclass(frozen=True)
class Task:
    task_id: int
    params: TaskParams
    proposer: str
    posted_at: int
    seed_round: int
    challenge_round: int
    status: TaskStatus


@dataclass(frozen=True)
class MinerState:
    joined: bool
    committed: bool
    forced: bool
    outcome: Outcome
    index: int
    count: int
    score: int
    adapter_hash: bytes
    root: bytes
    forced_error_commit: bytes
    locked: int
    paid: int
    slashed: int
    fraud: bool = False  # a fraud proof was accepted: FAILED whatever the votes


@dataclass(frozen=True)
class Tally:
    pass_seats: int
    fail_seats: int
    unavailable_seats: int
    pass_score_seats: int
    fail_score_seats: int


@dataclass(frozen=True)
class ValidatorState:
    commit_hash: bytes
    revealed: bool
    settled: bool
    penalized: bool
    seats: int
    decisive_votes: int
    bond: int
    votes: int  # 2 bits per miner index
    fee: int
    jackpot: int

    @property
    def paid(self) -> int:
        return self.fee + self.jackpot

    @property
    def agreed(self) -> bool:
        """Settled without a penalty (v1's "agreed with every outcome")."""
        return self.settled and not self.penalized


@dataclass(frozen=True)
class TaskSettlement:
    finalized: bool
    joined: int
    committed: int
    verdict_commits: int
    revealed: int
    revealed_seats: int
    decisive_seat_votes: int
    escrow: int
    miner_pool: int
    cap: int
    lock: int
    validator_pool: int
    miner_paid: int
    slashed: int
    refund: int


@dataclass(frozen=True)
class SettlementParams:
    """Settlement's deploy parameters (PROTOCOL.md §2.5)."""

    committee_seats: int
    quorum_bps: int
    supermajority_bps: int
    validator_fee_bps: int
    base_share_bps: int
    deterrence_bps: int
    forced_error_odds: int
    validator_bond: int
    jackpot: int


@dataclass(frozen=True)
class Evidence:
    """What a FAIL vote names (PROTOCOL.md §2.7): the rollout's leaf index, the token position (0 when
    the check is per rollout) and the check; what a dispute's jury re-audits (§2.10)."""

    rollout_index: int
    position: int
    check: Check


@dataclass(frozen=True)
class DisputeParams:
    """Disputes' deploy parameters (PROTOCOL.md §2.10)."""

    dispute_window: int
    commit_window: int
    reveal_window: int
    juror_fee_bps: int


@dataclass(frozen=True)
class Dispute:
    ruling: Ruling
    jurors: int
    revealed_seats: int
    uphold_seats: int
    overturn_seats: int
    mode_seats: int
    mode_score: int
    deposit: int
    fee_per_seat: int


@dataclass(frozen=True)
class Juror:
    commit_hash: bytes
    seats: int
    revealed: bool
    overturn: bool
    settled: bool
    penalized: bool
    score: int
    bond: int


@dataclass(frozen=True)
class DisputeWindows:
    verify_deadline: int
    dispute_deadline: int
    round: int  # the beacon round that draws every jury of the task
    commit_deadline: int
    reveal_deadline: int


@dataclass(frozen=True)
class Verdict:
    """A committee member's verdict on one miner; a FAIL names its evidence (rollout, position, check)."""

    miner: str
    vote: Vote
    score: int  # mean verified reward of the audited rollouts, 6 decimals (1.0 = 1_000_000)
    audited: int
    rollout_index: int = 0
    position: int = 0
    check: Check = Check.NONE

    @classmethod
    def from_pass(
        cls,
        miner: str,
        passed: bool,
        score: int,
        audited: int,
        check: Check = Check.TOKEN,
        rollout_index: int = 0,
        position: int = 0,
    ) -> Verdict:
        """PASS, or FAIL naming `check` at (`rollout_index`, `position`)."""
        if passed:
            return cls(miner, Vote.PASS, score, audited)
        return cls(miner, Vote.FAIL, score, audited, rollout_index, position, check)

    @property
    def passed(self) -> bool:
        return self.vote == Vote.PASS

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            to_checksum_address(self.miner),
            int(self.vote),
            self.score,
            self.audited,
            self.rollout_index,
            self.position,
            int(self.check),
        )


@dataclass(frozen=True)
class StakeInfo:
    role: Role
    active: int
    cooling: int
    cooldown_end: int
    staked: bool
    locked: int = 0  # part of `active` held by open tasks

    @property
    def free(self) -> int:
        return self.active - self.locked


def env_id(name: str) -> bytes:
    """The on-chain environment id: keccak256 of its name (PROTOCOL.md §2.3)."""
    return keccak(text=name)


VERDICT_ABI_TYPE = "(address,uint8,uint64,uint32,uint32,uint32,uint8)"


def forced_error_commitment(task_id: int, miner: str, secret: bytes) -> bytes:
    """keccak256(abi.encode(taskId, miner, secret)): what a miner commits at join (PROTOCOL.md §2.6)."""
    return keccak(
        abi_encode(["uint256", "address", "bytes32"], [task_id, to_checksum_address(miner), secret])
    )


def derive_forced_error_secret(account_key: bytes, task_id: int) -> bytes:
    """A per-task forced-error secret only the account's holder can compute, and the same after a restart."""
    return keccak(b"rollproof.forced-error.v1" + bytes(account_key) + task_id.to_bytes(32, "big"))


def is_forced(secret: bytes, seed_randomness: bytes, forced_error_odds: int) -> bool:
    """uint256(keccak256(abi.encode(secret, seedRandomness))) % F == 0, as Settlement.isForced."""
    digest = keccak(abi_encode(["bytes32", "bytes32"], [secret, seed_randomness]))
    return int.from_bytes(digest, "big") % forced_error_odds == 0


def committee_seats_offchain(
    randomness: bytes, task_id: int, validator: str, stake: int, total_stake: int, seats: int
) -> int:
    """Settlement's sortition, computed locally: #{i < C : keccak256(abi.encode(r, taskId, v, i)) % T < s}."""
    if stake == 0 or total_stake == 0:
        return 0
    v = to_checksum_address(validator)
    won = 0
    for i in range(seats):
        lot = keccak(abi_encode(["bytes32", "uint256", "address", "uint256"], [randomness, task_id, v, i]))
        won += int.from_bytes(lot, "big") % total_stake < stake
    return won


def decode_votes(bitmap: int, index: int) -> Vote:
    """The vote at miner `index` in a ValidatorState.votes bitmap (2 bits per miner)."""
    return Vote((bitmap >> (2 * index)) & 3)


def verdict_hash(task_id: int, validator: str, verdicts: list[Verdict], salt: bytes) -> bytes:
    """keccak256(abi.encode(taskId, validator, verdicts, salt)), as Settlement computes it."""
    encoded = abi_encode(
        ["uint256", "address", f"{VERDICT_ABI_TYPE}[]", "bytes32"],
        [task_id, to_checksum_address(validator), [v.as_tuple() for v in verdicts], salt],
    )
    return keccak(encoded)


def ruling_hash(task_id: int, miner: str, juror: str, overturn: bool, score: int, salt: bytes) -> bytes:
    """keccak256(abi.encode(taskId, miner, juror, overturn, score, salt)), as Disputes computes it."""
    encoded = abi_encode(
        ["uint256", "address", "address", "bool", "uint64", "bytes32"],
        [task_id, to_checksum_address(miner), to_checksum_address(juror), overturn, score, salt],
    )
    return keccak(encoded)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _named(item: dict[str, Any], value: Any) -> Any:
    """An ABI-decoded value with its tuples turned into dicts keyed by snake_case component names."""
    if item["type"] == "tuple":
        return {_snake(c["name"]): _named(c, v) for c, v in zip(item["components"], value, strict=True)}
    if item["type"].startswith("tuple["):
        inner = {**item, "type": item["type"][: item["type"].index("[")]}
        return [_named(inner, v) for v in value]
    if isinstance(value, bytes):
        return bytes(value)
    return value


def _fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The entries of `data` that `cls` (a dataclass) has fields for."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


class _Client:
    """A contract at an address, read through retries and written through the Sender."""

    contract_name = ""

    def __init__(self, w3: Web3, address: str, sender: Sender | None) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.sender = sender
        self.contract = w3.eth.contract(address=self.address, abi=load_abi(self.contract_name))

    @property
    def me(self) -> str:
        if self.sender is None:
            raise ChainError("this client is read-only: connect with an account to send transactions.")
        return self.sender.address

    def view(self, fn: str, *args: Any) -> Any:
        call = getattr(self.contract.functions, fn)(*args)
        retry = self.sender.config.retry if self.sender else SenderConfig.default().retry
        try:
            return with_retries(lambda: call.call(), retry, f"reading {self.contract_name}.{fn}")
        except ChainError:
            raise
        except Exception as exc:
            revert = revert_from_exception(exc, {"action": f"reading {fn}"})
            if revert is not None:
                raise revert from None
            raise

    def view_struct(self, fn: str, *args: Any) -> dict[str, Any]:
        """A view returning one struct, as a dict keyed by snake_case field names (matched by name,
        so a field added to the struct cannot shift the others)."""
        abi = next(i for i in self.contract.abi if i.get("type") == "function" and i["name"] == fn)
        return _named(abi["outputs"][0], self.view(fn, *args))

    def send(
        self, fn: str, *args: Any, description: str | None = None, ctx: dict[str, Any] | None = None
    ) -> Receipt:
        if self.sender is None:
            raise ChainError("this client is read-only: connect with an account to send transactions.")
        data = self.contract.encode_abi(fn, list(args))
        return self.sender.send(self.address, data, description=description or fn, ctx=ctx)

    def events_in(self, receipt: Receipt, name: str) -> list[ChainEvent]:
        decoder = EventDecoder(self.w3, {self.contract_name: self.address})
        out = [decoder.decode(log) for log in receipt.logs]
        return [e for e in out if e is not None and e.name == name]


class Token(_Client):
    contract_name = "RollToken"

    def balance_of(self, who: str) -> int:
        return int(self.view("balanceOf", to_checksum_address(who)))

    def allowance(self, owner: str, spender: str) -> int:
        return int(self.view("allowance", to_checksum_address(owner), to_checksum_address(spender)))

    def total_supply(self) -> int:
        return int(self.view("totalSupply"))

    def approve(self, spender: str, amount: int) -> Receipt:
        return self.send("approve", to_checksum_address(spender), amount, description="approving tokens")

    def ensure_allowance(self, spender: str, amount: int) -> Receipt | None:
        """Approve `spender` for at least `amount` unless it already is."""
        if self.allowance(self.me, spender) >= amount:
            return None
        return self.approve(spender, amount)

    def transfer(self, to: str, amount: int) -> Receipt:
        return self.send("transfer", to_checksum_address(to), amount, description="transferring tokens")

    def mint(self, to: str, amount: int) -> Receipt:
        return self.send("mint", to_checksum_address(to), amount, description="minting tokens")


class Stakes(_Client):
    contract_name = "StakeManager"

    def __init__(self, w3: Web3, address: str, sender: Sender | None, token: Token) -> None:
        super().__init__(w3, address, sender)
        self.token = token

    def stake(self, role: Role | int, amount: int) -> Receipt:
        """Approve (if needed) and add `amount` to the active stake for `role`."""
        self.token.ensure_allowance(self.address, amount)
        return self.send("stake", int(role), amount, description=f"staking as {Role(role).name.lower()}")

    def request_unstake(self, role: Role | int, amount: int) -> Receipt:
        return self.send(
            "requestUnstake",
            int(role),
            amount,
            description="requesting an unstake",
            ctx={"role": int(role), "unstake": True},
        )

    def withdraw(self, role: Role | int) -> Receipt:
        return self.send("withdraw", int(role), description="withdrawing stake", ctx={"role": int(role)})

    def register_peer(self, identity_secret: bytes) -> Receipt | None:
        """Bind this account to the libp2p identity with its proof of possession; skip if bound."""
        expected = peer_id_bytes(identity_public_key(identity_secret))
        if self.peer_id_of(self.me) == expected:
            return None
        chain_id = self.sender.chain_id if self.sender else self.w3.eth.chain_id
        x, y, v, r, s = peer_binding_signature(identity_secret, chain_id, self.address, self.me)
        return self.send("registerPeer", x, y, v, r, s, description="registering the peer id")

    def active_stake(self, who: str, role: Role | int) -> int:
        return int(self.view("activeStake", to_checksum_address(who), int(role)))

    def cooling_stake(self, who: str, role: Role | int) -> int:
        return int(self.view("coolingStake", to_checksum_address(who), int(role)))

    def cooldown_end(self, who: str, role: Role | int) -> int:
        return int(self.view("cooldownEnd", to_checksum_address(who), int(role)))

    def locked_stake(self, who: str, role: Role | int) -> int:
        return int(self.view("lockedStake", to_checksum_address(who), int(role)))

    def free_stake(self, who: str, role: Role | int) -> int:
        return int(self.view("freeStake", to_checksum_address(who), int(role)))

    def validator_stake_at(self, who: str, timestamp: int) -> int:
        """Active validator stake of `who` at unix time `timestamp` (checkpointed)."""
        return int(self.view("validatorStakeAt", to_checksum_address(who), timestamp))

    def total_validator_stake_at(self, timestamp: int) -> int:
        return int(self.view("totalValidatorStakeAt", timestamp))

    def is_staked(self, who: str, role: Role | int) -> bool:
        return bool(self.view("isStaked", to_checksum_address(who), int(role)))

    def min_stake(self, role: Role | int) -> int:
        return int(self.view("minStake", int(role)))

    def cooldown(self) -> int:
        return int(self.view("cooldown"))

    def stake_info(self, who: str, role: Role | int) -> StakeInfo:
        return StakeInfo(
            role=Role(role),
            active=self.active_stake(who, role),
            cooling=self.cooling_stake(who, role),
            cooldown_end=self.cooldown_end(who, role),
            staked=self.is_staked(who, role),
            locked=self.locked_stake(who, role),
        )

    def require_staked(self, who: str, role: Role | int) -> None:
        """Raise a sentence (the same as the contract's) when `who` is below the role minimum."""
        have, need = self.active_stake(who, role), self.min_stake(role)
        if have < need:
            raise ChainRevert(
                f"stake {format_rpt(have)} is below the {role_name(int(role))} minimum of {format_rpt(need)}.",
                "InsufficientStake",
                {"have": have, "need": need},
            )

    def peer_id_of(self, who: str) -> bytes:
        return bytes(self.view("peerIdOf", to_checksum_address(who)))

    def owner_of_peer(self, peer_id: bytes) -> str | None:
        owner = to_checksum_address(self.view("ownerOfPeer", keccak(peer_id)))
        return None if int(owner, 16) == 0 else owner

    def peer_binding_digest(self, who: str) -> bytes:
        return bytes(self.view("peerBindingDigest", to_checksum_address(who)))


class TaskBoard(_Client):
    contract_name = "TaskBoard"

    def __init__(self, w3: Web3, address: str, sender: Sender | None, token: Token) -> None:
        super().__init__(w3, address, sender)
        self.token = token

    def post_task(self, params: TaskParams) -> int:
        """Approve the escrow (if needed), post the task and return its id."""
        self.token.ensure_allowance(self.address, params.reward)
        receipt = self.send("postTask", params.as_tuple(), description="posting a task")
        posted = self.events_in(receipt, "TaskPosted")
        if not posted:
            raise ChainError(f"postTask succeeded (hash {receipt.tx_hash}) but emitted no TaskPosted event.")
        return int(posted[0].args["taskId"])

    def cancel_task(self, task_id: int) -> Receipt:
        return self.send("cancelTask", task_id, description=f"cancelling task {task_id}")

    def get_task(self, task_id: int) -> Task:
        raw = self.view_struct("getTask", task_id)
        params = raw.pop("params")
        raw["proposer"] = to_checksum_address(raw["proposer"])
        raw["status"] = TaskStatus(int(raw["status"]))
        return Task(task_id=task_id, params=TaskParams(**_fields(TaskParams, params)), **_fields(Task, raw))

    def task_status(self, task_id: int) -> TaskStatus:
        return TaskStatus(int(self.view("taskStatus", task_id)))

    def task_count(self) -> int:
        return int(self.view("taskCount"))

    def escrow_of(self, task_id: int) -> int:
        return int(self.view("escrowOf", task_id))

    def round_at(self, timestamp: int) -> int:
        return int(self.view("roundAt", timestamp))

    def max_task_duration(self) -> int:
        return int(self.view("maxTaskDuration"))

    def min_audit_time(self) -> int:
        """Seconds the verdict window stays open after the challenge round's time (enforced by postTask)."""
        return int(self.view("minAuditTime"))

    def round_time(self, round: int) -> int:
        """Unix time of drand round `round`: genesis + (round - 1) * period."""
        return int(self.view("roundTime", round))

    def max_miners(self) -> int:
        return int(self.view("MAX_MINERS"))

    def beacon_lag(self) -> int:
        """Seconds after a join or commit deadline before its beacon round may be published (one block slot)."""
        return int(self.view("BEACON_LAG"))

    def min_reveal_window(self) -> int:
        """Smallest verify deadline - verdict deadline postTask accepts, in seconds."""
        return int(self.view("MIN_REVEAL_WINDOW"))

    def earliest_verdict_deadline(self, commit_deadline: int) -> int:
        """The smallest verdict deadline postTask accepts for `commit_deadline`: the challenge round (the first
        after commit_deadline + BEACON_LAG) plus the minimum audit time."""
        return self.round_time(self.round_at(commit_deadline + self.beacon_lag()) + 1) + self.min_audit_time()


class Settlement(_Client):
    contract_name = "Settlement"

    def __init__(self, w3: Web3, address: str, sender: Sender | None, stakes: Stakes | None = None) -> None:
        super().__init__(w3, address, sender)
        self.stakes = stakes

    def send(
        self, fn: str, *args: Any, description: str | None = None, ctx: dict[str, Any] | None = None
    ) -> Receipt:
        try:
            return super().send(fn, *args, description=description, ctx=ctx)
        except ChainRevert as revert:
            # The contract's NotStaked(who, role) does not carry the amounts; say them.
            if revert.name == "NotStaked" and self.stakes is not None:
                self.stakes.require_staked(revert.error_args["who"], revert.error_args["role"])
            raise

    # ---- miners ------------------------------------------------------------------------
    def join(self, task_id: int, adapter_hash: bytes, forced_error_commit: bytes) -> Receipt | None:
        """Join `task_id` with `adapter_hash`, locking lock_amount(task_id) of free miner stake;
        `forced_error_commit` = forced_error_commitment(task_id, me, secret). None if already joined
        with that adapter."""
        state = self.miner_state(task_id, self.me)
        if state.joined:
            if state.adapter_hash != adapter_hash:
                raise ChainError(
                    f"{self.me} already joined task {task_id} with adapter {state.adapter_hash.hex()}, "
                    f"not {adapter_hash.hex()}; it must generate with the adapter it joined with."
                )
            return None
        return self.send(
            "join", task_id, adapter_hash, forced_error_commit, description=f"joining task {task_id}"
        )

    def commit(self, task_id: int, root: bytes, count: int) -> Receipt | None:
        """Commit the rollouts' Merkle root; None if this very root is already committed."""
        state = self.miner_state(task_id, self.me)
        if state.committed:
            if state.root != root or state.count != count:
                raise ChainError(
                    f"{self.me} already committed root {state.root.hex()} ({state.count} rollouts) to task "
                    f"{task_id}; a different commitment cannot replace it."
                )
            return None
        return self.send("commit", task_id, root, count, description=f"committing to task {task_id}")

    def reveal_forced_error(self, task_id: int, secret: bytes) -> Receipt | None:
        """Prove this miner was forced on `task_id` (reveal window); None if already revealed."""
        if self.miner_state(task_id, self.me).forced:
            return None
        return self.send(
            "revealForcedError", task_id, secret, description=f"revealing the forced error on task {task_id}"
        )

    # ---- validators --------------------------------------------------------------------
    def commit_verdict(self, task_id: int, verdicts: list[Verdict], salt: bytes) -> Receipt | None:
        """Commit to `verdicts` with `salt`; None if this commitment is already on chain."""
        digest = verdict_hash(task_id, self.me, verdicts, salt)
        state = self.validator_state(task_id, self.me)
        if state.commit_hash == digest:
            return None
        if int.from_bytes(state.commit_hash, "big") != 0:
            raise ChainError(
                f"{self.me} already committed a different verdict to task {task_id}; keep the salt and "
                "verdicts it committed (the node's store has them) and reveal those."
            )
        return self.send(
            "commitVerdict", task_id, digest, description=f"committing a verdict on task {task_id}"
        )

    def reveal_verdict(self, task_id: int, verdicts: list[Verdict], salt: bytes) -> Receipt | None:
        if self.validator_state(task_id, self.me).revealed:
            return None
        return self.send(
            "revealVerdict",
            task_id,
            [v.as_tuple() for v in verdicts],
            salt,
            description=f"revealing the verdicts on task {task_id}",
        )

    # ---- anyone ------------------------------------------------------------------------
    def finalize(self, task_id: int) -> Receipt | None:
        if self.task_settlement(task_id).finalized:
            return None
        return self.send("finalize", task_id, description=f"finalizing task {task_id}")

    def settle_validator(self, task_id: int, validator: str | None = None) -> Receipt | None:
        """Settle one committee member (default: this account) of a finalized task; None if settled."""
        who = to_checksum_address(validator or self.me)
        if self.validator_state(task_id, who).settled:
            return None
        return self.send(
            "settleValidator", task_id, who, description=f"settling validator {who} on task {task_id}"
        )

    def fund_treasury(self, amount: int, token: Token) -> Receipt:
        """Donate `amount` to the treasury that pays jackpots (approves first if needed)."""
        token.ensure_allowance(self.address, amount)
        return self.send("fundTreasury", amount, description="funding the treasury")

    def claim(self) -> Receipt | None:
        """Withdraw everything credited to this account; None when there is nothing."""
        if self.claimable(self.me) == 0:
            return None
        return self.send("claim", description="claiming rewards")

    # ---- views -------------------------------------------------------------------------
    def claimable(self, who: str) -> int:
        return int(self.view("claimable", to_checksum_address(who)))

    def miner_state(self, task_id: int, miner: str) -> MinerState:
        raw = self.view_struct("minerState", task_id, to_checksum_address(miner))
        raw["outcome"] = Outcome(int(raw["outcome"]))
        return MinerState(**_fields(MinerState, raw))

    def tally_of(self, task_id: int, miner: str) -> Tally:
        return Tally(**_fields(Tally, self.view_struct("tallyOf", task_id, to_checksum_address(miner))))

    def vote_of(self, task_id: int, validator: str, miner: str) -> Vote:
        return Vote(
            int(self.view("voteOf", task_id, to_checksum_address(validator), to_checksum_address(miner)))
        )

    def committee_seats(self, task_id: int, validator: str) -> int:
        """Seats of `validator` on the committee of `task_id`; raises ChallengeBeaconMissing before the
        challenge beacon is recorded."""
        return int(self.view("committeeSeats", task_id, to_checksum_address(validator)))

    def miner_cap(self, task_id: int) -> int:
        return int(self.view("minerCap", task_id))

    def lock_amount(self, task_id: int) -> int:
        """The miner stake join locks for `task_id`."""
        return int(self.view("lockAmount", task_id))

    def params(self) -> SettlementParams:
        return SettlementParams(**_fields(SettlementParams, self.view_struct("params")))

    def treasury(self) -> int:
        return int(self.view("treasury"))

    def fee_reserve(self) -> int:
        return int(self.view("feeReserve"))

    def burned(self) -> int:
        """Tokens burned so far: blocked miners' caps and fees nobody earned (out of every party's reach)."""
        return int(self.view("burned"))

    def is_forced(self, secret: bytes, seed_randomness: bytes) -> bool:
        return bool(self.view("isForced", secret, seed_randomness))

    def forced_error_commitment_onchain(self, task_id: int, miner: str, secret: bytes) -> bytes:
        return bytes(self.view("forcedErrorCommitment", task_id, to_checksum_address(miner), secret))

    def validator_state(self, task_id: int, validator: str) -> ValidatorState:
        raw = self.view_struct("validatorState", task_id, to_checksum_address(validator))
        return ValidatorState(**_fields(ValidatorState, raw))

    def task_settlement(self, task_id: int) -> TaskSettlement:
        raw = self.view_struct("taskSettlement", task_id)
        return TaskSettlement(**_fields(TaskSettlement, raw))

    def miners(self, task_id: int) -> list[str]:
        return [to_checksum_address(a) for a in self.view("getMiners", task_id)]

    def validators(self, task_id: int) -> list[str]:
        """The committee members that committed a verdict, in commit order."""
        return [to_checksum_address(a) for a in self.view("getValidators", task_id)]

    def fail_evidence(self, task_id: int, miner: str, from_block: int = 0) -> list[Evidence]:
        """The evidence of every FAIL revealed on `miner` in `task_id` (VerdictRevealed events), distinct,
        in reveal order: exactly what a dispute re-audits (PROTOCOL.md §2.10)."""
        retry = self.sender.config.retry if self.sender else SenderConfig.default().retry
        logs = with_retries(
            lambda: self.contract.events.VerdictRevealed.get_logs(
                from_block=from_block,
                argument_filters={"taskId": task_id, "miner": to_checksum_address(miner)},
            ),
            retry,
            "reading the FAIL evidence",
        )
        out: list[Evidence] = []
        for entry in logs:
            args = entry["args"]
            if int(args["vote"]) != Vote.FAIL:
                continue
            evidence = Evidence(int(args["rolloutIndex"]), int(args["position"]), Check(int(args["check"])))
            if evidence not in out:
                out.append(evidence)
        return out

    def verdict_hash_onchain(
        self, task_id: int, validator: str, verdicts: list[Verdict], salt: bytes
    ) -> bytes:
        args = (task_id, to_checksum_address(validator), [v.as_tuple() for v in verdicts], salt)
        return bytes(self.view("verdictHash", *args))


class Disputes(_Client):
    """Fraud proofs and the second committee's re-audit of disputed FAILs (PROTOCOL.md §2.10). Deposits
    and jurors' bonds are plain tokens: each send approves Disputes first when needed."""

    contract_name = "Disputes"

    def __init__(
        self, w3: Web3, address: str, sender: Sender | None, token: Token, settlement: Settlement
    ) -> None:
        super().__init__(w3, address, sender)
        self.token = token
        self.settlement = settlement

    # ---- anyone: fraud proofs ------------------------------------------------------------
    def prove_fraud(self, task_id: int, miner: str, leaf: Leaf, proof: list[bytes]) -> Receipt | None:
        """Open `leaf` of `miner`'s commitment with `proof` and show it contradicts the task; None if a
        fraud proof against this miner was already accepted."""
        if self.settlement.miner_state(task_id, miner).fraud:
            return None
        return self.send(
            "proveFraud",
            task_id,
            to_checksum_address(miner),
            leaf.as_tuple(),
            proof,
            description=f"proving fraud by {miner} on task {task_id}",
        )

    def leaf_hash_onchain(self, leaf: Leaf) -> bytes:
        return bytes(self.view("leafHash", leaf.as_tuple()))

    def verify_leaf(self, task_id: int, miner: str, proof: list[bytes], leaf: bytes) -> bool:
        return bool(self.view("verifyLeaf", task_id, to_checksum_address(miner), proof, leaf))

    # ---- a FAILED miner ----------------------------------------------------------------------
    def dispute(self, task_id: int) -> Receipt | None:
        """Dispute this miner's FAIL on `task_id`, paying in its task lock as a deposit; None if it
        already disputed."""
        if self.dispute_of(task_id, self.me).ruling != Ruling.NONE:
            return None
        deposit = self.settlement.miner_state(task_id, self.me).locked
        free = self.token.balance_of(self.me)
        if free < deposit:
            raise ChainError(
                f"Disputing task {task_id} takes a deposit of {format_rpt(deposit)} in free (unstaked) tokens, "
                f"on top of the lock; {self.me} holds {format_rpt(free)}. Keep that much unstaked to dispute."
            )
        self.token.ensure_allowance(self.address, deposit)
        return self.send("dispute", task_id, description=f"disputing the FAIL on task {task_id}")

    # ---- jurors -----------------------------------------------------------------------------
    def commit_ruling(
        self, task_id: int, miner: str, overturn: bool, score: int, salt: bytes
    ) -> Receipt | None:
        """Commit a ruling on `miner`'s dispute (pays in validatorBond x seats); None if committed."""
        digest = ruling_hash(task_id, miner, self.me, overturn, score, salt)
        state = self.juror_of(task_id, miner, self.me)
        if state.commit_hash == digest:
            return None
        if int.from_bytes(state.commit_hash, "big") != 0:
            raise ChainError(
                f"{self.me} already committed a different ruling on {miner}'s dispute in task {task_id}."
            )
        seats = self.juror_seats(task_id, miner, self.me)
        self.token.ensure_allowance(self.address, self.settlement.params().validator_bond * seats)
        return self.send(
            "commitRuling",
            task_id,
            to_checksum_address(miner),
            digest,
            description=f"committing a ruling on {miner}'s dispute in task {task_id}",
        )

    def reveal_ruling(
        self, task_id: int, miner: str, overturn: bool, score: int, salt: bytes
    ) -> Receipt | None:
        if self.juror_of(task_id, miner, self.me).revealed:
            return None
        return self.send(
            "revealRuling",
            task_id,
            to_checksum_address(miner),
            overturn,
            score,
            salt,
            description=f"revealing the ruling on {miner}'s dispute in task {task_id}",
        )

    # ---- anyone ---------------------------------------------------------------------------
    def resolve(self, task_id: int, miner: str) -> Receipt | None:
        if self.dispute_of(task_id, miner).ruling != Ruling.OPEN:
            return None
        return self.send(
            "resolve", task_id, to_checksum_address(miner), description=f"resolving {miner}'s dispute"
        )

    def settle_juror(self, task_id: int, miner: str, juror: str | None = None) -> Receipt | None:
        who = to_checksum_address(juror or self.me)
        if self.juror_of(task_id, miner, who).settled:
            return None
        return self.send(
            "settleJuror",
            task_id,
            to_checksum_address(miner),
            who,
            description=f"settling juror {who} of {miner}'s dispute in task {task_id}",
        )

    # ---- views ----------------------------------------------------------------------------
    def can_dispute(self, task_id: int, miner: str) -> bool:
        return bool(self.view("canDispute", task_id, to_checksum_address(miner)))

    def juror_seats(self, task_id: int, miner: str, juror: str) -> int:
        """Seats of `juror` on `miner`'s jury; raises DisputeBeaconMissing before the round is recorded."""
        return int(self.view("jurorSeats", task_id, to_checksum_address(miner), to_checksum_address(juror)))

    def windows(self, task_id: int) -> DisputeWindows:
        return DisputeWindows(**_fields(DisputeWindows, self.view_struct("windows", task_id)))

    def dispute_of(self, task_id: int, miner: str) -> Dispute:
        raw = self.view_struct("disputeOf", task_id, to_checksum_address(miner))
        raw["ruling"] = Ruling(int(raw["ruling"]))
        return Dispute(**_fields(Dispute, raw))

    def juror_of(self, task_id: int, miner: str, juror: str) -> Juror:
        raw = self.view_struct("jurorOf", task_id, to_checksum_address(miner), to_checksum_address(juror))
        return Juror(**_fields(Juror, raw))

    def jurors(self, task_id: int, miner: str) -> list[str]:
        return [to_checksum_address(a) for a in self.view("getJurors", task_id, to_checksum_address(miner))]

    def open_disputes(self, task_id: int) -> int:
        return int(self.view("openDisputes", task_id))

    def params(self) -> DisputeParams:
        return DisputeParams(**_fields(DisputeParams, self.view_struct("params")))

    def jury_seats(self) -> int:
        """Lots drawn per dispute: 2C."""
        return int(self.view("jurySeats"))


class Beacon(_Client):
    contract_name = "DrandBeacon"

    def record_beacon(self, round: int, signature: bytes, signature_point: bytes) -> Receipt | None:
        """Record a drand beacon (48-byte signature + 128-byte EIP-2537 point); None if recorded.

        `verifier.beacon.Beacon.onchain_args()` gives exactly these arguments.
        """
        if self.randomness(round) is not None:
            return None
        return self.send(
            "recordBeacon",
            round,
            signature,
            signature_point,
            description=f"recording the beacon of round {round}",
        )

    def randomness(self, round: int) -> bytes | None:
        value = bytes(self.view("randomness", round))
        return None if value == bytes(32) else value

    def genesis(self) -> int:
        return int(self.view("genesis"))

    def period(self) -> int:
        return int(self.view("period"))

    def round_at(self, timestamp: int) -> int:
        """The drand round produced at or before `timestamp`: (t - genesis) // period + 1."""
        return (timestamp - self.genesis()) // self.period() + 1


class Chain:
    """Every client of one deployment for one account (or read-only without an account)."""

    def __init__(self, w3: Web3, deployment: Deployment, sender: Sender | None) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.sender = sender
        self.token = Token(w3, deployment.address("RollToken"), sender)
        self.stakes = Stakes(w3, deployment.address("StakeManager"), sender, self.token)
        self.board = TaskBoard(w3, deployment.address("TaskBoard"), sender, self.token)
        self.settlement = Settlement(w3, deployment.address("Settlement"), sender, self.stakes)
        self.disputes = Disputes(w3, deployment.address("Disputes"), sender, self.token, self.settlement)
        self.beacon = Beacon(w3, deployment.address("DrandBeacon"), sender)

    @classmethod
    def connect(
        cls,
        rpc: str,
        deployment: Deployment | Path | str,
        account: LocalAccount | None = None,
        config: SenderConfig | None = None,
        check_chain_id: bool = True,
    ) -> Chain:
        if not isinstance(deployment, Deployment):
            deployment = Deployment.load(deployment)
        w3 = make_web3(rpc)
        retry = (config or SenderConfig.default()).retry
        chain_id = with_retries(lambda: w3.eth.chain_id, retry, f"connecting to {rpc}")
        if check_chain_id and chain_id != deployment.chain_id:
            raise ChainError(
                f"the RPC at {rpc} serves chain {chain_id}, but the deployment file is for chain "
                f"{deployment.chain_id}; point --rpc at the right node or use the right deployment file."
            )
        sender = Sender(w3, account, config) if account is not None else None
        return cls(w3, deployment, sender)

    @property
    def address(self) -> str | None:
        return self.sender.address if self.sender else None

    def as_account(self, account: LocalAccount, config: SenderConfig | None = None) -> Chain:
        """The same deployment and connection, sending as another account."""
        return Chain(self.w3, self.deployment, Sender(self.w3, account, config))

    def contracts(self) -> dict[str, str]:
        return dict(self.deployment.addresses)

    def follower(
        self, cursor: CursorStore, key: str = "events", confirmations: int = 0, names: list[str] | None = None
    ) -> LogFollower:
        config = FollowerConfig(confirmations=confirmations, start_block=self.deployment.deploy_block)
        return LogFollower(self.w3, self.contracts(), cursor, key, config, names)

    def timestamp(self) -> int:
        return int(
            with_retries(
                lambda: self.w3.eth.get_block("latest")["timestamp"],
                SenderConfig.default().retry,
                "reading the chain time",
            )
        )

    def block_number(self) -> int:
        return int(
            with_retries(
                lambda: self.w3.eth.block_number, SenderConfig.default().retry, "reading the block number"
            )
        )

    def eth_balance(self, who: str) -> int:
        return int(self.w3.eth.get_balance(to_checksum_address(who)))
