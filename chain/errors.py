"""Reverts as sentences.

Every custom error in the shipped ABIs (ours and OpenZeppelin's) is indexed by its 4-byte
selector. `decode_revert(data)` turns revert data into a `DecodedError` whose message is a
sentence a node operator can act on; errors without a template still read as
`ErrorName(arg=value, ...)`, never as raw hex.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from chain.artifacts import available_artifacts, load_abi

ROLE_NAMES = ("miner", "validator", "evaluator")
OUTCOME_NAMES = ("none", "passed", "failed", "no-quorum", "undecided", "forced", "no-commit")
TASK_STATUS_NAMES = ("unknown", "open", "cancelled", "finalized")
TOKEN_DECIMALS = 18


class ChainError(Exception):
    """Base of every error chain/ raises; `str(e)` is a sentence for the user."""


class ChainRevert(ChainError):
    """A call or transaction reverted. `name` and `args` identify the custom error (if any)."""

    def __init__(self, message: str, name: str | None = None, args: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.error_args = args or {}


def format_rpt(amount: int) -> str:
    """Token base units as RPT with no trailing zeros: 50 * 10**18 -> '50 RPT'."""
    whole, frac = divmod(int(amount), 10**TOKEN_DECIMALS)
    if frac == 0:
        return f"{whole} RPT"
    return f"{whole}.{str(frac).rjust(TOKEN_DECIMALS, '0').rstrip('0')} RPT"


def role_name(role: int) -> str:
    return ROLE_NAMES[role] if 0 <= role < len(ROLE_NAMES) else f"role {role}"


@dataclass(frozen=True)
class ErrorSpec:
    name: str
    inputs: tuple[tuple[str, str], ...]  # (name, abi type)

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(t for _, t in self.inputs)})"

    @property
    def selector(self) -> bytes:
        return keccak(text=self.signature)[:4]


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return item["type"]


@cache
def error_index() -> dict[bytes, ErrorSpec]:
    """Selector -> error, over every shipped artifact's ABI."""
    index: dict[bytes, ErrorSpec] = {}
    for name in available_artifacts():
        for item in load_abi(name):
            if item.get("type") != "error":
                continue
            spec = ErrorSpec(item["name"], tuple((i["name"], _abi_type(i)) for i in item["inputs"]))
            index.setdefault(spec.selector, spec)
    return index


# Sentences for the errors a node operator meets: a format string over the error's ABI argument
# names, or a function of (args, ctx) where the sentence needs more (amounts in RPT, role names, or
# what the caller knows, e.g. the role it was staking for, carried in `ctx`).
Template = Callable[[dict[str, Any], dict[str, Any]], str]


def sentence(template: str | Template, args: dict[str, Any], ctx: dict[str, Any]) -> str:
    """The sentence of one error; KeyError when the template names an argument the ABI lacks."""
    return template.format(**args) if isinstance(template, str) else template(args, ctx)


def _stake(a: dict[str, Any], ctx: dict[str, Any]) -> str:
    role = ctx.get("role")
    if ctx.get("unstake"):
        which = f"{role_name(role)} " if role is not None else ""
        return (
            f"cannot unstake {format_rpt(a['need'])}: the active {which}stake is only {format_rpt(a['have'])}"
        )
    where = f"the {role_name(role)} minimum" if role is not None else "the required amount"
    return f"stake {format_rpt(a['have'])} is below {where} of {format_rpt(a['need'])}"


def _window(a: dict[str, Any], ctx: dict[str, Any]) -> str:
    now, start, end = a["nowTime"], a["start"], a["end"]
    if now > end:
        return f"too late: the window closed at unix time {end} and the chain time is {now}"
    return f"too early: the window opens after unix time {start} and the chain time is {now}"


TEMPLATES: dict[str, str | Template] = {
    "InsufficientStake": _stake,
    "NotStaked": lambda a, c: (
        f"{a['who']} is not staked as a {role_name(a['role'])} (stake at least the minimum first)"
    ),
    "InvalidRole": "role {role} does not exist (0 miner, 1 validator, 2 evaluator)",
    "ZeroAmount": "the amount must be positive",
    "NothingToWithdraw": lambda a, c: (
        f"nothing is cooling down for the {role_name(a['role'])} role; request an unstake first"
    ),
    "CooldownActive": "the unstake cooldown ends at unix time {cooldownEnd}; the chain time is {nowTime}",
    "InvalidPeerSignature": "the peer binding signature was not made by the identity key being registered",
    "PeerTaken": "this libp2p peer id is already registered to {owner}",
    "OutsideWindow": _window,
    "TaskNotOpen": lambda a, c: (
        f"task {a['taskId']} is not open"
        + (f" (it is {TASK_STATUS_NAMES[a['status']]})" if "status" in a and a["status"] < 4 else "")
    ),
    "UnknownTask": "task {taskId} does not exist",
    "AlreadyJoined": "{miner} already joined task {taskId}",
    "NotJoined": "{miner} did not join task {taskId}, so it cannot commit",
    "AlreadyCommitted": "{miner} already committed to task {taskId}",
    "WrongCount": "the commitment covers {count} rollouts but the task needs P x G = {expected}",
    "ZeroRoot": "the Merkle root must not be zero",
    "VerdictAlreadyCommitted": "{validator} already committed a verdict for task {taskId}",
    "NoVerdictCommitted": "{validator} committed no verdict for task {taskId}",
    "AlreadyRevealed": "{validator} already revealed its verdicts for task {taskId}",
    "VerdictMismatch": "the revealed verdicts and salt do not match the committed verdict hash",
    "MinerNotCommitted": "a verdict names {miner}, which did not commit to the task",
    "DuplicateVerdict": "the verdicts name {miner} more than once",
    "SelfVerdict": "{validator} joined the task as a miner, so it cannot sit on its committee",
    "ScoreOutOfRange": "score {score} is above 1.0 (1000000)",
    "TaskFull": "task {taskId} already has the maximum of {max} miners",
    "InsufficientFreeStake": lambda a, c: (
        f"{a['who']} has {format_rpt(a['free'])} of free {role_name(a['role'])} stake but "
        f"{format_rpt(a['need'])} must be locked (stake more, or wait until open tasks settle)"
    ),
    "ExceedsLocked": lambda a, c: (
        f"only {format_rpt(a['locked'])} of {a['who']}'s {role_name(a['role'])} stake is locked, "
        f"not {format_rpt(a['amount'])}"
    ),
    "ChallengeKnown": "the challenge beacon of round {round} is already recorded, so commitments are closed",
    "NotOnCommittee": "{validator} holds no seat on the committee of task {taskId}; only members vote",
    "IncompleteVerdicts": (
        "the reveal holds {got} verdicts but {expected} miners committed; give one per miner"
    ),
    "InvalidVote": (
        "the verdict on {miner} is malformed: a FAIL must name a check, PASS and UNAVAILABLE must not"
    ),
    "ZeroForcedErrorCommit": "the forced-error commitment must not be zero",
    "ForcedErrorMismatch": "the secret does not open {miner}'s forced-error commitment",
    "NotForced": "{miner} was not forced on this task (secret and seed beacon say so)",
    "AlreadyForced": "{miner} already revealed its forced error",
    "SeedBeaconMissing": "the seed beacon of round {round} is not recorded on chain yet; record it first",
    "InvalidLeafProof": "the Merkle proof does not open {miner}'s committed root with this leaf",
    "NotFraud": "the opened leaf is consistent with the task; there is no fraud to prove",
    "FraudAlreadyProven": "a fraud proof against {miner} was already accepted",
    "NotFinalized": "task {taskId} is not finalized yet",
    "NotFailed": (
        "{miner} is not contested by the votes (no quorum, no FAIL vote, a PASS supermajority, or a"
        " forced error); there is nothing to dispute"
    ),
    "NoModelEvidence": (
        "{miner} was failed by a fraud proof the chain checked; there is no model check to re-audit"
    ),
    "AlreadyDisputed": "{miner} already disputed this task",
    "NoDispute": "{miner} has no open dispute in this task",
    "AlreadyResolved": "the dispute of {miner} is already resolved",
    "NotResolved": "the dispute of {miner} is not resolved yet; call resolve after the reveal deadline",
    "DisputeBeaconMissing": (
        "the dispute beacon of round {round} is not recorded on chain yet; record it first"
    ),
    "JurorNotStaked": "{who} does not hold the minimum validator stake",
    "NotOnJury": "{juror} holds no seat on the jury of {miner}'s dispute in task {taskId}",
    "ZeroRulingHash": "the ruling hash must not be zero",
    "RulingAlreadyCommitted": "{juror} already committed a ruling on this dispute",
    "NoRulingCommitted": "{juror} committed no ruling on this dispute",
    "RulingAlreadyRevealed": "{juror} already revealed its ruling",
    "RulingMismatch": "the revealed ruling does not match the committed hash (wrong salt, vote or score)",
    "JurorAlreadySettled": "{juror} was already settled for this dispute",
    "DisputeOpen": "{open} dispute(s) of task {taskId} are not resolved yet; finalize waits for them",
    "DisputeWindowOpen": (
        "a contested miner of task {taskId} may dispute until {deadline}; finalize waits for the window"
    ),
    "NotDisputes": "{caller} is not the Disputes contract",
    "DisputesAlreadySet": "the Disputes contract is already set to {current}",
    "NotDeployer": "{caller} is not the Settlement's deployer",
    "DisputesNotSet": "the Disputes contract is not set yet; the deployment is incomplete",
    "AlreadySettled": "{validator} was already settled for task {taskId}",
    "InvalidParam": "the deploy parameter {name} cannot be {value}",
    "InvalidMaxMiners": "max miners {maxMiners} must be between 1 and {max}",
    "InvalidAuditParams": (
        "the audit parameters are out of range (m={auditRollouts} must be 1..P x G, "
        "k={auditPositions} at most max tokens, tolerance {logprobTolNano} within 70000..5000000 "
        "nano, edge slack {edgeSlackNano} within 5400..1e9, dtype {dtype} 0 or 1)"
    ),
    "RevealWindowTooShort": (
        "the reveal window (verify deadline - verdict deadline) of {window} s is below the minimum of "
        "{minimum} s"
    ),
    "AuditWindowTooShort": (
        "the verdict deadline {verdictDeadline} leaves too little audit time: it must be at least "
        "{earliest} (the challenge round's time plus the minimum audit time)"
    ),
    "AlreadyFinalized": "task {taskId} is already finalized",
    "ChallengeBeaconMissing": (
        "the challenge beacon of round {round} is not recorded on chain yet; record it first"
    ),
    "NothingToClaim": "{who} has nothing to claim",
    "DeadlinesNotIncreasing": "the deadlines must be strictly increasing: join < commit < verdict < verify",
    "JoinDeadlineNotInFuture": "the join deadline {joinDeadline} is not after the chain time {nowTime}",
    "TaskTooLong": "the task would stay open {duration} s, more than the maximum of {maxDuration} s",
    "ZeroReward": "the reward must be positive",
    "ZeroCooldown": "the unstake cooldown must be positive (StakeManager's constructor)",
    "ZeroDuration": "the maximum task duration must be positive (TaskBoard's constructor)",
    "ZeroTemperature": "the temperature must be positive",
    "ZeroTokenizerHash": (
        "the task names no tokenizer (tokenizerHash is zero); post the base model tokenizer's hash "
        "(verifier.tokenizer.tokenizer_hash, PROTOCOL.md §5): miners and validators refuse a task without it"
    ),
    "NotProposer": "only the proposer {proposer} may do this, not {caller}",
    "TaskHasJoins": "{joined} miners joined and locked stake; the task settles through finalize, not cancel",
    "InvalidBeacon": "the beacon signature for round {round} does not verify under the chain's drand key",
    "InvalidSignatureLength": "a drand signature is 48 bytes, not {length}",
    "InvalidSignaturePointLength": "the EIP-2537 signature point is 128 bytes, not {length}",
    "InvalidRound": "drand rounds start at 1",
    "InvalidPublicKey": "the beacon public key is not a valid 256-byte EIP-2537 G2 point",
    "InvalidPeriod": "the beacon period must be positive",
    "InsufficientGas": "the gas limit is too low for the BLS verification; raise it",
    "PrecompileFailed": (
        "the BLS precompile at {precompile} failed: the chain must run the Prague hardfork (EIP-2537)"
    ),
    "BeforeBeaconGenesis": "time {time} is before the beacon genesis {genesis}",
    "InvalidTaskSize": (
        "P={numProblems} and G={rolloutsPerProblem} must be positive, max tokens {maxTokens} between 1 "
        "and 16384, and P x G must fit in 32 bits"
    ),
    "ZeroVerdictHash": "the verdict hash must not be zero",
    "NotSettlement": "only the Settlement contract may do this, not {caller}",
    "SettlementAlreadySet": "the Settlement address is already set to {current}",
    "SettlementNotSet": "the TaskBoard is not wired to a Settlement contract yet",
    "CooldownTooShort": "the cooldown {cooldown} s must be longer than the longest task ({maxTaskDuration} s)",
    "MismatchedWiring": "StakeManager, TaskBoard and Settlement must use the same token and beacon",
    "SafeERC20FailedOperation": "the token {token} refused the transfer",
    "ZeroAddress": "the zero address is not allowed here",
    "ERC20InsufficientBalance": lambda a, c: (
        f"{a['sender']} holds {format_rpt(a['balance'])} but {format_rpt(a['needed'])} are needed"
    ),
    "ERC20InsufficientAllowance": lambda a, c: (
        f"the allowance of {format_rpt(a['allowance'])} is below the {format_rpt(a['needed'])} needed (approve first)"
    ),
    "OwnableUnauthorizedAccount": "{account} is not the owner of this contract",
}


@dataclass(frozen=True)
class DecodedError:
    name: str
    args: dict[str, Any]
    message: str


def _plain(value: Any, abi_type: str) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    return value


def decode_revert(data: bytes | str | None, ctx: dict[str, Any] | None = None) -> DecodedError | None:
    """Decode revert data (selector + ABI args) into a sentence, or None when it is unknown."""
    if data is None:
        return None
    if isinstance(data, str):
        try:
            data = bytes.fromhex(data.removeprefix("0x"))
        except ValueError:
            return None
    if len(data) < 4:
        return None
    selector, body = data[:4], data[4:]
    ctx = ctx or {}
    if selector == keccak(text="Error(string)")[:4]:
        (reason,) = abi_decode(["string"], body)
        return DecodedError("Error", {"reason": reason}, reason)
    if selector == keccak(text="Panic(uint256)")[:4]:
        (code,) = abi_decode(["uint256"], body)
        return DecodedError("Panic", {"code": code}, f"the contract panicked (code {code:#x})")
    spec = error_index().get(selector)
    if spec is None:
        return None
    try:
        values = abi_decode([t for _, t in spec.inputs], body)
    except Exception:
        return DecodedError(spec.name, {}, f"{spec.name} (undecodable arguments)")
    args = {n: _plain(v, t) for (n, t), v in zip(spec.inputs, values, strict=True)}
    template = TEMPLATES.get(spec.name)
    if template is not None:
        try:
            return DecodedError(spec.name, args, sentence(template, args, ctx))
        except (KeyError, IndexError, TypeError):
            pass  # the ABI changed under the template: fall back to the generic form
    shown = ", ".join(f"{k}={v.hex() if isinstance(v, bytes) else v}" for k, v in args.items())
    return DecodedError(spec.name, args, f"{spec.name}({shown})")


def revert_from_exception(exc: BaseException, ctx: dict[str, Any] | None = None) -> ChainRevert | None:
    """A ChainRevert for a web3 revert exception, None when `exc` is not a revert."""
    from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

    if not isinstance(exc, ContractLogicError | ContractCustomError | ContractPanicError):
        return None
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    decoded = decode_revert(data, ctx) if isinstance(data, str | bytes) else None
    action = (ctx or {}).get("action")
    prefix = f"{action} failed: " if action else ""
    if decoded is not None:
        return ChainRevert(prefix + decoded.message + ".", decoded.name, decoded.args)
    message = getattr(exc, "message", None) or str(exc)
    return ChainRevert(prefix + f"the transaction reverted ({message}).")
