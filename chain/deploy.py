"""Deploying the contracts from Python with the shipped artifacts, and the deployment file.

Order: RollToken (unless an existing ERC20 is given), StakeManager, DrandBeacon, TaskBoard,
Settlement, Disputes, then the wiring (StakeManager and TaskBoard learn the Settlement address, the
only contract allowed to slash and to release escrow; Settlement learns the Disputes address, the
only contract allowed to record fraud proofs and dispute rulings). Constructor arguments are matched
to the ABI by parameter name, so a reordered constructor still deploys correctly and a
renamed parameter fails loudly instead of silently swapping two addresses.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address

from chain.artifacts import load_artifact
from chain.errors import ChainError

if TYPE_CHECKING:  # web3 and eth-account cost seconds to import; reading a deployment file needs neither
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from chain.tx import Sender

DEPLOYMENT_VERSION = 2
RPT = 10**18


# TaskBoard.BEACON_LAG: a round used for randomness is the first after a deadline plus this many seconds
# (one block slot), so a block stamped at the deadline but sealed late cannot know it.
BEACON_LAG = 12


@dataclass
class DeployParams:
    """Protocol parameters fixed at deploy. Defaults suit a devnet; see docs/OPERATIONS.md."""

    min_stake_miner: int = 100 * RPT
    min_stake_validator: int = 100 * RPT
    min_stake_evaluator: int = 50 * RPT
    cooldown: int = 7 * 24 * 3600  # must outlast max_task_duration (PROTOCOL.md §1)
    max_task_duration: int = 24 * 3600
    min_audit_time: int = 30  # verdict window after the challenge round's time (TaskBoard)
    # Settlement (PROTOCOL.md §2.5; SECURITY.md gives the arithmetic behind the defaults)
    committee_seats: int = 64
    quorum_bps: int = 6_667
    supermajority_bps: int = 6_667
    validator_fee_bps: int = 1_000
    base_share_bps: int = 2_000
    deterrence_bps: int = 20_000
    forced_error_odds: int = 8
    validator_bond: int = 5 * RPT // 2  # per seat
    jackpot: int = 20 * RPT  # per caught forced miner, split by seats (jackpot / C per seat)
    # Disputes (PROTOCOL.md §2.10): a FAILED miner's dispute window after verifyDeadline, then the
    # jury's commit window (must cover the beacon period, BEACON_LAG and min_audit_time) and reveal window.
    dispute_window: int = 30
    jury_commit_window: int = 60
    jury_reveal_window: int = 30
    juror_fee_bps: int = 1_000  # of the deposit, paid to the jurors on the winning side
    treasury_seed: int = 0  # minted to the deployer and donated to the treasury (RollToken only)

    def check(self) -> None:
        if self.cooldown <= self.max_task_duration:
            raise ChainError(
                f"the unstake cooldown ({self.cooldown} s) must be longer than the longest task "
                f"({self.max_task_duration} s), or stake could leave before a task it joined settles."
            )
        if not 1 <= self.committee_seats <= 64:
            raise ChainError("committee_seats must be between 1 and 64.")
        if not 0 < self.quorum_bps <= 10_000:
            raise ChainError("quorum_bps must be above 0 and at most 10000 basis points.")
        if not 5_000 < self.supermajority_bps <= 10_000:
            raise ChainError("supermajority_bps must be above 5000 (a tie never decides) and at most 10000.")
        if not 0 <= self.validator_fee_bps < 10_000:
            raise ChainError("validator_fee_bps must be at least 0 and below 10000 basis points.")
        if not 0 <= self.base_share_bps <= 10_000:
            raise ChainError("base_share_bps must be between 0 and 10000 basis points.")
        if self.deterrence_bps < 10_000:
            raise ChainError("deterrence_bps must be at least 10000: the lock must cover the largest payout.")
        if self.forced_error_odds < 2:
            raise ChainError("forced_error_odds must be at least 2.")
        if self.validator_bond <= 0:
            raise ChainError("validator_bond must be positive: a vote must put stake at risk.")
        if self.dispute_window <= 0 or self.jury_reveal_window < 12:
            raise ChainError("dispute_window must be positive and jury_reveal_window at least 12 s.")
        if not 0 <= self.juror_fee_bps <= 10_000:
            raise ChainError("juror_fee_bps must be between 0 and 10000 basis points.")
        if self.jackpot < 0 or self.treasury_seed < 0 or self.min_audit_time < 0:
            raise ChainError("jackpot, treasury_seed and min_audit_time must not be negative.")

    @property
    def settlement_params(self) -> tuple[int, ...]:
        """Settlement's Params struct, in Solidity field order."""
        return (
            self.committee_seats,
            self.quorum_bps,
            self.supermajority_bps,
            self.validator_fee_bps,
            self.base_share_bps,
            self.deterrence_bps,
            self.forced_error_odds,
            self.validator_bond,
            self.jackpot,
        )

    @property
    def dispute_params(self) -> tuple[int, ...]:
        """Disputes' Params struct, in Solidity field order."""
        return (self.dispute_window, self.jury_commit_window, self.jury_reveal_window, self.juror_fee_bps)

    @property
    def min_stakes(self) -> list[int]:
        return [self.min_stake_miner, self.min_stake_validator, self.min_stake_evaluator]


@dataclass
class BeaconConfig:
    """The drand chain the DrandBeacon contract verifies."""

    name: str  # "quicknet", "devnet", ...
    public_key: bytes  # 96-byte compressed G2 (what drand publishes)
    public_key_eip2537: bytes  # 256-byte EIP-2537 G2 encoding (what the contract takes)
    genesis: int
    period: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "public_key": self.public_key.hex(),
            "public_key_eip2537": self.public_key_eip2537.hex(),
            "genesis": self.genesis,
            "period": self.period,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BeaconConfig:
        return cls(
            name=str(data["name"]),
            public_key=bytes.fromhex(data["public_key"]),
            public_key_eip2537=bytes.fromhex(data["public_key_eip2537"]),
            genesis=int(data["genesis"]),
            period=int(data["period"]),
        )


@dataclass
class Deployment:
    chain_id: int
    addresses: dict[str, str]  # contract name -> checksum address
    deploy_block: int
    beacon: BeaconConfig
    params: DeployParams
    deployer: str
    version: int = DEPLOYMENT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def address(self, name: str) -> str:
        if name not in self.addresses:
            raise ChainError(f"the deployment has no {name} contract.")
        return self.addresses[name]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "chain_id": self.chain_id,
            "deploy_block": self.deploy_block,
            "deployer": self.deployer,
            "addresses": self.addresses,
            "beacon": self.beacon.to_json(),
            "params": asdict(self.params),
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        if data.get("version") != DEPLOYMENT_VERSION:
            raise ChainError(f"deployment file version {data.get('version')} is not {DEPLOYMENT_VERSION}.")
        return cls(
            chain_id=int(data["chain_id"]),
            addresses={k: to_checksum_address(v) for k, v in data["addresses"].items()},
            deploy_block=int(data["deploy_block"]),
            beacon=BeaconConfig.from_json(data["beacon"]),
            params=DeployParams(**data["params"]),
            deployer=to_checksum_address(data["deployer"]),
            extra=dict(data.get("extra", {})),
        )

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> Deployment:
        path = Path(path)
        if not path.is_file():
            raise ChainError(f"deployment file {path} does not exist; run `rollproof deploy` first.")
        if path.stat().st_size > 1024 * 1024:
            raise ChainError(f"deployment file {path} is too large.")
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ChainError(f"deployment file {path} is malformed ({type(exc).__name__}: {exc}).") from exc


def _norm(name: str) -> str:
    return name.strip("_").lower()


def constructor_args(contract: str, values: dict[str, Any]) -> list[Any]:
    """Constructor arguments of `contract` in ABI order, matched by normalized parameter name."""
    abi = load_artifact(contract).abi
    ctor = next((i for i in abi if i.get("type") == "constructor"), {"inputs": []})
    known = {_norm(k): v for k, v in values.items()}
    args = []
    for item in ctor["inputs"]:
        key = _norm(item["name"])
        if key not in known:
            raise ChainError(
                f"do not know what to pass as constructor argument '{item['name']}' of {contract}."
            )
        args.append(known[key])
    return args


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        return f"({','.join(_abi_type(c) for c in item['components'])}){item['type'][5:]}"
    return item["type"]


def deploy_contract(w3: Web3, sender: Sender, name: str, args: list[Any]) -> tuple[str, int]:
    """Deploy one artifact; returns (address, block)."""
    artifact = load_artifact(name)
    ctor = next((i for i in artifact.abi if i.get("type") == "constructor"), {"inputs": []})
    types = [_abi_type(i) for i in ctor["inputs"]]
    data = bytes.fromhex(artifact.bytecode.removeprefix("0x")) + abi_encode(types, args)
    receipt = sender.send(None, data, description=f"deploying {name}")
    raw = w3.eth.get_transaction_receipt(receipt.tx_hash)
    return to_checksum_address(raw["contractAddress"]), receipt.block_number


def deploy_all(
    w3: Web3,
    account: LocalAccount,
    beacon: BeaconConfig,
    params: DeployParams | None = None,
    token: str | None = None,
    sender: Sender | None = None,
) -> Deployment:
    """Deploy every contract and wire them; returns the Deployment (not yet saved)."""
    params = params or DeployParams()
    params.check()
    if params.jury_commit_window < beacon.period + BEACON_LAG + params.min_audit_time:
        raise ChainError(
            f"The jury commit window ({params.jury_commit_window} s) must cover the beacon period "
            f"({beacon.period} s), the beacon lag ({BEACON_LAG} s) and min_audit_time ({params.min_audit_time} s): "
            "the jury's round comes after the dispute deadline plus the lag, and jurors audit after it."
        )
    from chain.tx import Sender

    sender = sender or Sender(w3, account)
    owner = account.address
    addresses: dict[str, str] = {}
    first_block: int | None = None

    def put(name: str, values: dict[str, Any]) -> str:
        nonlocal first_block
        address, block = deploy_contract(w3, sender, name, constructor_args(name, values))
        addresses[name] = address
        first_block = block if first_block is None else first_block
        return address

    if token is None:
        token = put("RollToken", {"initialOwner": owner, "owner": owner})
    else:
        if params.treasury_seed:
            raise ChainError("treasury_seed mints RollToken; it cannot be used with an external token.")
        addresses["RollToken"] = to_checksum_address(token)
    common = {"token": token, "owner": owner, "initialOwner": owner}
    stakes = put(
        "StakeManager",
        {
            **common,
            "cooldown": params.cooldown,
            "minStake": params.min_stakes,
            "minStakes": params.min_stakes,
        },
    )
    beacon_address = put(
        "DrandBeacon",
        {"publicKey": beacon.public_key_eip2537, "genesis": beacon.genesis, "period": beacon.period},
    )
    board = put(
        "TaskBoard",
        {
            **common,
            "beacon": beacon_address,
            "maxTaskDuration": params.max_task_duration,
            "minAuditTime": params.min_audit_time,
        },
    )
    settlement_params = params.settlement_params
    put(
        "Settlement",
        {
            **common,
            "stakes": stakes,
            "stakeManager": stakes,
            "board": board,
            "taskBoard": board,
            "beacon": beacon_address,
            "params": settlement_params,
        },
    )
    for target in ("StakeManager", "TaskBoard"):
        contract = w3.eth.contract(address=addresses[target], abi=load_artifact(target).abi)
        data = contract.encode_abi("setSettlement", [addresses["Settlement"]])
        sender.send(addresses[target], data, description=f"wiring {target} to Settlement")
    disputes = put("Disputes", {"settlement": addresses["Settlement"], "params": params.dispute_params})
    settlement = w3.eth.contract(address=addresses["Settlement"], abi=load_artifact("Settlement").abi)
    data = settlement.encode_abi("setDisputes", [disputes])
    sender.send(addresses["Settlement"], data, description="wiring Settlement to Disputes")
    if params.treasury_seed:
        _seed_treasury(w3, sender, addresses, params.treasury_seed, minted=token == addresses["RollToken"])
    return Deployment(
        chain_id=w3.eth.chain_id,
        addresses=addresses,
        deploy_block=first_block or 0,
        beacon=beacon,
        params=params,
        deployer=owner,
    )


def _seed_treasury(w3: Web3, sender: Sender, addresses: dict[str, str], amount: int, minted: bool) -> None:
    """Mint `amount` RPT to the deployer and donate it to Settlement's treasury (jackpots from task 1)."""
    token = w3.eth.contract(address=addresses["RollToken"], abi=load_artifact("RollToken").abi)
    settlement = addresses["Settlement"]
    steps = [
        ("mint", [sender.address, amount], "minting the treasury seed"),
        ("approve", [settlement, amount], "approving the treasury seed"),
    ]
    for fn, args, what in steps if minted else steps[1:]:
        sender.send(addresses["RollToken"], token.encode_abi(fn, args), description=what)
    contract = w3.eth.contract(address=settlement, abi=load_artifact("Settlement").abi)
    sender.send(settlement, contract.encode_abi("fundTreasury", [amount]), description="seeding the treasury")


def default_deployment_path(data_dir: Path | str | None = None) -> Path:
    """Where `rollproof deploy` writes and nodes read the deployment: $ROLLPROOF_DEPLOYMENT, else
    <data dir>/deployment.json with the data dir $ROLLPROOF_HOME or ~/.rollproof."""
    env = os.environ.get("ROLLPROOF_DEPLOYMENT")
    if env:
        return Path(env)
    base = Path(data_dir) if data_dir else Path(os.environ.get("ROLLPROOF_HOME", Path.home() / ".rollproof"))
    return base / "deployment.json"
