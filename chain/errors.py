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


# Sentences for the errors a node operator meets. `ctx` carries what the caller knows (e.g. the
# role it was staking for) when the error itself does not say it.
Template = Callable[[dict[str, Any], dict[str, Any]], str]


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


TEMPLATES: dict[str, Template] = {
    "InsufficientStake": _stake,
    "NotStaked": lambda a, c: (
        f"{a['who']} is not staked as a {role_name(a['role'])} (stake at least the minimum first)"
    ),
    "InvalidRole": lambda a, c: f"role {a['role']} does not exist (0 miner, 1 validator, 2 evaluator)",
    "ZeroAmount": lambda a, c: "the amount must be positive",
    "NothingToWithdraw": lambda a, c: (
        f"nothing is cooling down for the {role_name(a['role'])} role; request an unstake first"
    ),
    "CooldownActive": lambda a, c: (
        f"the unstake cooldown ends at unix time {a['cooldownEnd']}; the chain time is {a['nowTime']}"
    ),
    "InvalidPeerSignature": lambda a, c: (
        "the peer binding signature was not made by the identity key being registered"
    ),
    "PeerTaken": lambda a, c: f"this libp2p peer id is already registered to {a['owner']}",
    "OutsideWindow": _window,
    "TaskNotOpen": lambda a, c: (
        f"task {a['taskId']} is not open"
        + (f" (it is {TASK_STATUS_NAMES[a['status']]})" if "status" in a and a["status"] < 4 else "")
    ),
    "UnknownTask": lambda a, c: f"task {a['taskId']} does not exist",
    "AlreadyJoined": lambda a, c: f"{a['miner']} already joined task {a['taskId']}",
    "NotJoined": lambda a, c: f"{a['miner']} did not join task {a['taskId']}, so it cannot commit",
    "AlreadyCommitted": lambda a, c: f"{a['miner']} already committed to task {a['taskId']}",
    "WrongCount": lambda a, c: (
        f"the commitment covers {a['count']} rollouts but the task needs P x G = {a['expected']}"
    ),
    "ZeroRoot": lambda a, c: "the Merkle root must not be zero",
    "VerdictAlreadyCommitted": lambda a, c: (
        f"{a['validator']} already committed a verdict for task {a['taskId']}"
    ),
    "NoVerdictCommitted": lambda a, c: f"{a['validator']} committed no verdict for task {a['taskId']}",
    "AlreadyRevealed": lambda a, c: f"{a['validator']} already revealed its verdicts for task {a['taskId']}",
    "VerdictMismatch": lambda a, c: "the revealed verdicts and salt do not match the committed verdict hash",
    "MinerNotCommitted": lambda a, c: f"a verdict names {a['miner']}, which did not commit to the task",
    "DuplicateVerdict": lambda a, c: f"the verdicts name {a['miner']} more than once",
    "SelfVerdict": lambda a, c: (
        f"{a['validator']} joined the task as a miner, so it cannot sit on its committee"
    ),
    "ScoreOutOfRange": lambda a, c: f"score {a['score']} is above 1.0 (1000000)",
    "TaskFull": lambda a, c: f"task {a['taskId']} already has the maximum of {a['max']} miners",
    "InsufficientFreeStake": lambda a, c: (
        f"{a['who']} has {format_rpt(a['free'])} of free {role_name(a['role'])} stake but "
        f"{format_rpt(a['need'])} must be locked (stake more, or wait until open tasks settle)"
    ),
    "ExceedsLocked": lambda a, c: (
        f"only {format_rpt(a['locked'])} of {a['who']}'s {role_name(a['role'])} stake is locked, "
        f"not {format_rpt(a['amount'])}"
    ),
    "ChallengeKnown": lambda a, c: (
        f"the challenge beacon of round {a['round']} is already recorded, so commitments are closed"
    ),
    "NotOnCommittee": lambda a, c: (
        f"{a['validator']} holds no seat on the committee of task {a['taskId']}; only members vote"
    ),
    "IncompleteVerdicts": lambda a, c: (
        f"the reveal holds {a['got']} verdicts but {a['expected']} miners committed; give one per miner"
    ),
    "InvalidVote": lambda a, c: (
        f"the verdict on {a['miner']} is malformed: a FAIL must name a check, PASS and UNAVAILABLE must not"
    ),
    "ZeroForcedErrorCommit": lambda a, c: "the forced-error commitment must not be zero",
    "ForcedErrorMismatch": lambda a, c: f"the secret does not open {a['miner']}'s forced-error commitment",
    "NotForced": lambda a, c: f"{a['miner']} was not forced on this task (secret and seed beacon say so)",
    "AlreadyForced": lambda a, c: f"{a['miner']} already revealed its forced error",
    "SeedBeaconMissing": lambda a, c: (
        f"the seed beacon of round {a['round']} is not recorded on chain yet; record it first"
    ),
    "InvalidLeafProof": lambda a, c: (
        f"the Merkle proof does not open {a['miner']}'s committed root with this leaf"
    ),
    "NotFraud": lambda a, c: "the opened leaf is consistent with the task; there is no fraud to prove",
    "FraudAlreadyProven": lambda a, c: f"a fraud proof against {a['miner']} was already accepted",
    "NotFinalized": lambda a, c: f"task {a['taskId']} is not finalized yet",
    "NotFailed": lambda a, c: (
        f"{a['miner']} is not contested by the votes (no quorum, no FAIL vote, a PASS supermajority, or a"
        " forced error); there is nothing to dispute"
    ),
    "NoModelEvidence": lambda a, c: (
        f"{a['miner']} was failed by a fraud proof the chain checked; there is no model check to re-audit"
    ),
    "AlreadyDisputed": lambda a, c: f"{a['miner']} already disputed this task",
    "NoDispute": lambda a, c: f"{a['miner']} has no open dispute in this task",
    "AlreadyResolved": lambda a, c: f"the dispute of {a['miner']} is already resolved",
    "NotResolved": lambda a, c: (
        f"the dispute of {a['miner']} is not resolved yet; call resolve after the reveal deadline"
    ),
    "DisputeBeaconMissing": lambda a, c: (
        f"the dispute beacon of round {a['round']} is not recorded on chain yet; record it first"
    ),
    "JurorNotStaked": lambda a, c: f"{a['who']} does not hold the minimum validator stake",
    "NotOnJury": lambda a, c: (
        f"{a['juror']} holds no seat on the jury of {a['miner']}'s dispute in task {a['taskId']}"
    ),
    "ZeroRulingHash": lambda a, c: "the ruling hash must not be zero",
    "RulingAlreadyCommitted": lambda a, c: f"{a['juror']} already committed a ruling on this dispute",
    "NoRulingCommitted": lambda a, c: f"{a['juror']} committed no ruling on this dispute",
    "RulingAlreadyRevealed": lambda a, c: f"{a['juror']} already revealed its ruling",
    "RulingMismatch": lambda a, c: (
        "the revealed ruling does not match the committed hash (wrong salt, vote or score)"
    ),
    "JurorAlreadySettled": lambda a, c: f"{a['juror']} was already settled for this dispute",
    "DisputeOpen": lambda a, c: (
        f"{a['open']} dispute(s) of task {a['taskId']} are not resolved yet; finalize waits for them"
    ),
    "DisputeWindowOpen": lambda a, c: (
        f"a FAILED miner of task {a['taskId']} may dispute until {a['deadline']}; finalize waits for the window"
    ),
    "NotDisputes": lambda a, c: f"{a['caller']} is not the Disputes contract",
    "DisputesAlreadySet": lambda a, c: f"the Disputes contract is already set to {a['current']}",
    "NotDeployer": lambda a, c: f"{a['caller']} is not the Settlement's deployer",
    "DisputesNotSet": lambda a, c: "the Disputes contract is not set yet; the deployment is incomplete",
    "AlreadySettled": lambda a, c: f"{a['validator']} was already settled for task {a['taskId']}",
    "InvalidParam": lambda a, c: f"the deploy parameter {a['name']} cannot be {a['value']}",
    "InvalidMaxMiners": lambda a, c: f"max miners {a['maxMiners']} must be between 1 and {a['max']}",
    "InvalidAuditParams": lambda a, c: (
        f"the audit parameters are out of range (m={a['auditRollouts']} must be 1..P x G, "
        f"k={a['auditPositions']} at most max tokens, tolerance {a['logprobTolNano']} within "
        f"68000..5000000 nano, edge slack {a['edgeSlackNano']} within 43..1e9, dtype {a['dtype']} 0 or 1)"
    ),
    "RevealWindowTooShort": lambda a, c: (
        f"the reveal window (verify deadline - verdict deadline) of {a['window']} s is below the minimum of "
        f"{a['minimum']} s"
    ),
    "AuditWindowTooShort": lambda a, c: (
        f"the verdict deadline {a['verdictDeadline']} leaves too little audit time: it must be at least "
        f"{a['earliest']} (the challenge round's time plus the minimum audit time)"
    ),
    "AlreadyFinalized": lambda a, c: f"task {a['taskId']} is already finalized",
    "ChallengeBeaconMissing": lambda a, c: (
        f"the challenge beacon of round {a['round']} is not recorded on chain yet; record it first"
    ),
    "NothingToClaim": lambda a, c: f"{a['who']} has nothing to claim",
    "DeadlinesNotIncreasing": lambda a, c: (
        "the deadlines must be strictly increasing: join < commit < verdict < verify"
    ),
    "JoinDeadlineNotInFuture": lambda a, c: (
        f"the join deadline {a['joinDeadline']} is not after the chain time {a['nowTime']}"
    ),
    "TaskTooLong": lambda a, c: (
        f"the task would stay open {a['duration']} s, more than the maximum of {a['maxDuration']} s"
    ),
    "ZeroReward": lambda a, c: "the reward must be positive",
    "ZeroTemperature": lambda a, c: "the temperature must be positive",
    "NotProposer": lambda a, c: f"only the proposer {a['proposer']} may do this, not {a['caller']}",
    "TaskHasJoins": lambda a, c: (
        f"{a['joined']} miners joined and locked stake; the task settles through finalize, not cancel"
    ),
    "InvalidBeacon": lambda a, c: (
        f"the beacon signature for round {a['round']} does not verify under the chain's drand key"
    ),
    "InvalidSignatureLength": lambda a, c: f"a drand signature is 48 bytes, not {a['length']}",
    "InvalidSignaturePointLength": lambda a, c: (
        f"the EIP-2537 signature point is 128 bytes, not {a['length']}"
    ),
    "InvalidRound": lambda a, c: "drand rounds start at 1",
    "InvalidPublicKey": lambda a, c: "the beacon public key is not a valid 256-byte EIP-2537 G2 point",
    "InvalidPeriod": lambda a, c: "the beacon period must be positive",
    "InsufficientGas": lambda a, c: "the gas limit is too low for the BLS verification; raise it",
    "PrecompileFailed": lambda a, c: (
        f"the BLS precompile at {a['precompile']} failed: the chain must run the Prague hardfork (EIP-2537)"
    ),
    "BeforeBeaconGenesis": lambda a, c: f"time {a['time']} is before the beacon genesis {a['genesis']}",
    "InvalidTaskSize": lambda a, c: (
        f"P={a['numProblems']}, G={a['rolloutsPerProblem']} and max tokens "
        f"{a['maxTokens']} must be positive and P x G must fit in 32 bits"
    ),
    "ZeroVerdictHash": lambda a, c: "the verdict hash must not be zero",
    "NotSettlement": lambda a, c: f"only the Settlement contract may do this, not {a['caller']}",
    "SettlementAlreadySet": lambda a, c: f"the Settlement address is already set to {a['current']}",
    "SettlementNotSet": lambda a, c: "the TaskBoard is not wired to a Settlement contract yet",
    "CooldownTooShort": lambda a, c: (
        f"the cooldown {a['cooldown']} s must be longer than the longest task ({a['maxTaskDuration']} s)"
    ),
    "MismatchedWiring": lambda a, c: (
        "StakeManager, TaskBoard and Settlement must use the same token and beacon"
    ),
    "SafeERC20FailedOperation": lambda a, c: f"the token {a['token']} refused the transfer",
    "ZeroAddress": lambda a, c: "the zero address is not allowed here",
    "ERC20InsufficientBalance": lambda a, c: (
        f"{a['sender']} holds {format_rpt(a['balance'])} but {format_rpt(a['needed'])} are needed"
    ),
    "ERC20InsufficientAllowance": lambda a, c: (
        f"the allowance of {format_rpt(a['allowance'])} is below the {format_rpt(a['needed'])} needed (approve first)"
    ),
    "OwnableUnauthorizedAccount": lambda a, c: f"{a['account']} is not the owner of this contract",
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
            return DecodedError(spec.name, args, template(args, ctx))
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
