"""`rollproof keys ...` and `rollproof deploy`, mounted by node/cli/forwarded.py.

Errors raised here are chain.keys.KeyFileError / chain.errors.ChainError subclasses whose
message is a sentence; the node CLI prints them without a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chain.deploy import RPT, DeployParams, default_deployment_path, deploy_all
from chain.errors import ChainError, format_rpt
from chain.keys import (
    KeyFileError,
    check_private_permissions,
    create_keystore,
    identity_path_for,
    identity_public_key,
    keystore_address,
    load_account,
    load_identity_secret,
    peer_id_bytes,
    read_passphrase,
)

ANVIL_CHAIN_ID = 31337
# The deploy command's defaults are DeployParams' (one set of protocol defaults).
_D = DeployParams()

keys_app = typer.Typer(
    name="keys",
    help="Account keystores (eth-account V3) and the libp2p identity key stored beside them.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

KeystoreOpt = Annotated[
    Path, typer.Option("--keystore", help="Keystore JSON file (the identity key goes beside it).")
]
# One spelling everywhere: the nodes, `status` and these commands take --rpc-url / ROLLPROOF_RPC_URL.
RpcUrlOpt = Annotated[
    str, typer.Option("--rpc-url", envvar="ROLLPROOF_RPC_URL", help="Ethereum JSON-RPC URL.")
]
PassFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="Read the passphrase from this file (else $ROLLPROOF_PASSPHRASE, else a prompt).",
    ),
]


def peer_id_text(peer_id: bytes) -> str:
    """The base58 form libp2p prints (16Uiu2...)."""
    from libp2p.peer.id import ID

    return ID(peer_id).to_base58()


def _prompt(text: str) -> str | None:
    """`text` when a person can answer it (stdin is a terminal), else None: read_passphrase then asks
    for --passphrase-file or ROLLPROOF_PASSPHRASE in a sentence instead of failing on end of input."""
    import sys

    return text if sys.stdin is not None and sys.stdin.isatty() else None


def _describe(keystore: Path) -> None:
    identity = identity_path_for(keystore)
    typer.echo(f"address:   {keystore_address(keystore)}")
    typer.echo(f"keystore:  {keystore}")
    if identity.exists():
        peer = peer_id_bytes(identity_public_key(load_identity_secret(identity)))
        typer.echo(f"identity:  {identity}")
        typer.echo(f"peer id:   {peer_id_text(peer)}")
    else:
        typer.echo(f"identity:  missing ({identity} does not exist)")
    for path in (keystore, identity):
        if path.exists() and (warning := check_private_permissions(path)):
            typer.echo(f"warning: {warning}", err=True)


@keys_app.command("new")
def keys_new(keystore: KeystoreOpt, passphrase_file: PassFileOpt = None) -> None:
    """Create a new account keystore and a libp2p identity key beside it (both mode 0600)."""
    passphrase = read_passphrase(
        passphrase_file, prompt=_prompt("Passphrase for the new keystore: "), confirm=True
    )
    create_keystore(keystore, passphrase)
    _describe(keystore)


@keys_app.command("import")
def keys_import(
    keystore: KeystoreOpt,
    private_key_file: Annotated[
        Path | None,
        typer.Option("--private-key-file", help="File holding the hex private key (else a hidden prompt)."),
    ] = None,
    passphrase_file: PassFileOpt = None,
) -> None:
    """Import an existing private key into a new keystore (never pass the key on the command line)."""
    if private_key_file is not None:
        if not private_key_file.is_file():
            raise KeyFileError(f"private key file {private_key_file} does not exist.")
        secret = private_key_file.read_text()[:200].strip()
    else:
        import getpass

        if _prompt("Private key (hex): ") is None:
            raise KeyFileError(
                "there is no terminal to ask for the private key on; pass --private-key-file FILE "
                "(never the key itself on the command line)."
            )
        secret = getpass.getpass("Private key (hex): ").strip()
    passphrase = read_passphrase(
        passphrase_file, prompt=_prompt("Passphrase for the new keystore: "), confirm=True
    )
    create_keystore(keystore, passphrase, private_key=secret)
    _describe(keystore)


@keys_app.command("show")
def keys_show(keystore: KeystoreOpt) -> None:
    """Print the address, the identity file and the peer id (no passphrase needed)."""
    _describe(keystore)


@keys_app.command("register")
def keys_register(
    keystore: KeystoreOpt,
    rpc: RpcUrlOpt = "http://127.0.0.1:8545",
    deployment: Annotated[
        Path | None,
        typer.Option("--deployment", help="Deployment file; default: ~/.rollproof/deployment.json."),
    ] = None,
    passphrase_file: PassFileOpt = None,
) -> None:
    """Bind the identity key's libp2p peer id to the account on chain (proof of possession)."""
    from chain.clients import Chain

    account = load_account(
        keystore, read_passphrase(passphrase_file, prompt=_prompt("Keystore passphrase: "))
    )
    secret = load_identity_secret(identity_path_for(keystore))
    chain = Chain.connect(rpc, deployment or default_deployment_path(), account)
    receipt = chain.stakes.register_peer(secret)
    peer = peer_id_text(peer_id_bytes(identity_public_key(secret)))
    if receipt is None:
        typer.echo(f"peer id {peer} is already registered to {account.address}.")
    else:
        typer.echo(f"registered peer id {peer} to {account.address} (tx {receipt.tx_hash}).")


def deploy(
    rpc: RpcUrlOpt = "http://127.0.0.1:8545",
    keystore: Annotated[
        Path | None,
        typer.Option("--keystore", help="Deployer keystore; it becomes the token and contract owner."),
    ] = None,
    passphrase_file: PassFileOpt = None,
    anvil_account: Annotated[
        int | None,
        typer.Option(
            "--anvil-account", help="Deploy with Anvil's default account N instead (chain 31337 only)."
        ),
    ] = None,
    beacon: Annotated[
        str, typer.Option("--beacon", help="quicknet (real drand) or devnet (a local beacon).")
    ] = "devnet",
    beacon_genesis: Annotated[
        int | None,
        typer.Option("--beacon-genesis", help="devnet: unix time of round 1 (default: about now)."),
    ] = None,
    beacon_period: Annotated[
        int, typer.Option("--beacon-period", help="devnet: seconds between rounds.")
    ] = 3,
    beacon_seed: Annotated[
        str | None, typer.Option("--beacon-seed", help="devnet: derive the key from this text.")
    ] = None,
    beacon_key_file: Annotated[
        Path | None, typer.Option("--beacon-key-file", help="devnet: the beacon's secret key file.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Deployment file to write; default: $ROLLPROOF_DEPLOYMENT or ~/.rollproof/deployment.json.",
        ),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Use this existing ERC20 instead of deploying RollToken.")
    ] = None,
    min_stake_miner: Annotated[float, typer.Option(help="Minimum miner stake, RPT.")] = _D.min_stake_miner
    / RPT,
    min_stake_validator: Annotated[float, typer.Option(help="Minimum validator stake, RPT.")] = (
        _D.min_stake_validator / RPT
    ),
    min_stake_evaluator: Annotated[float, typer.Option(help="Minimum evaluator stake, RPT.")] = (
        _D.min_stake_evaluator / RPT
    ),
    cooldown: Annotated[
        int, typer.Option(help="Unstake cooldown, seconds (longer than --max-task-duration).")
    ] = _D.cooldown,
    max_task_duration: Annotated[
        int, typer.Option(help="Longest task (post to verify deadline), seconds.")
    ] = _D.max_task_duration,
    min_audit_time: Annotated[
        int, typer.Option(help="Seconds the verdict window stays open after the challenge round.")
    ] = _D.min_audit_time,
    committee_seats: Annotated[
        int, typer.Option(help="Committee seats drawn per task (1-64).")
    ] = _D.committee_seats,
    quorum_bps: Annotated[
        int, typer.Option(help="Revealed seats needed for an outcome, bps of C.")
    ] = _D.quorum_bps,
    supermajority_bps: Annotated[
        int, typer.Option(help="Share of revealed seats a side needs to win, bps (> 5000).")
    ] = _D.supermajority_bps,
    validator_fee_bps: Annotated[
        int, typer.Option(help="Validators' share of a task reward, basis points.")
    ] = _D.validator_fee_bps,
    base_share_bps: Annotated[
        int, typer.Option(help="Part of a miner's cap paid whatever its score, basis points.")
    ] = _D.base_share_bps,
    deterrence_bps: Annotated[
        int, typer.Option(help="Miner lock as a multiple of the per-miner cap, bps (>= 10000).")
    ] = _D.deterrence_bps,
    forced_error_odds: Annotated[
        int, typer.Option(help="One miner-task in F is a forced error.")
    ] = _D.forced_error_odds,
    validator_bond: Annotated[
        float, typer.Option(help="Bond locked per committee seat, RPT.")
    ] = _D.validator_bond / RPT,
    jackpot: Annotated[
        float, typer.Option(help="Jackpot per caught forced error, split by seats, RPT.")
    ] = _D.jackpot / RPT,
    dispute_window: Annotated[
        int, typer.Option(help="Seconds after the verify deadline in which a FAILED miner may dispute.")
    ] = _D.dispute_window,
    jury_commit_window: Annotated[
        int,
        typer.Option(
            help="Seconds after the dispute deadline for jurors to commit (>= period + 12 s beacon lag + audit time)."
        ),
    ] = _D.jury_commit_window,
    jury_reveal_window: Annotated[
        int, typer.Option(help="Seconds after the jury commit deadline for jurors to reveal (>= 12).")
    ] = _D.jury_reveal_window,
    juror_fee_bps: Annotated[
        int, typer.Option(help="Part of a dispute deposit paid to the winning jurors, basis points.")
    ] = _D.juror_fee_bps,
    treasury_seed: Annotated[
        float, typer.Option(help="RPT minted and donated to the jackpot treasury at deploy.")
    ] = 0.0,
    fund: Annotated[
        list[str] | None,
        typer.Option("--fund", help="Mint --fund-amount RPT to this address (repeatable; devnets)."),
    ] = None,
    fund_amount: Annotated[float, typer.Option(help="RPT minted to each --fund address.")] = 10_000.0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing deployment file.")] = False,
) -> None:
    """Deploy RollToken, StakeManager, DrandBeacon, TaskBoard, Settlement and Disputes, wire them, and write
    the deployment file that every node reads."""
    from chain.anvil import DEFAULT_PRIVATE_KEYS
    from chain.beacon_key import beacon_config
    from chain.clients import Chain
    from chain.tx import RetryPolicy, Sender, make_web3, with_retries

    path = out or default_deployment_path()
    if path.exists() and not force:
        raise ChainError(
            f"deployment file {path} already exists; pass --force to replace it or --out elsewhere."
        )
    if (keystore is None) == (anvil_account is None):
        raise ChainError("give exactly one deployer: --keystore FILE or --anvil-account N.")
    w3 = make_web3(rpc)
    chain_id = with_retries(lambda: w3.eth.chain_id, RetryPolicy(attempts=3), f"connecting to {rpc}")
    if anvil_account is not None:
        if chain_id != ANVIL_CHAIN_ID:
            raise ChainError(
                f"--anvil-account only works on Anvil (chain {ANVIL_CHAIN_ID}); {rpc} is chain {chain_id}."
            )
        if not 0 <= anvil_account < len(DEFAULT_PRIVATE_KEYS):
            raise ChainError(f"--anvil-account must be between 0 and {len(DEFAULT_PRIVATE_KEYS) - 1}.")
        from eth_account import Account

        account = Account.from_key(DEFAULT_PRIVATE_KEYS[anvil_account])
    else:
        account = load_account(
            keystore, read_passphrase(passphrase_file, prompt=_prompt("Keystore passphrase: "))
        )
    now = int(w3.eth.get_block("latest")["timestamp"])
    params = DeployParams(
        min_stake_miner=int(min_stake_miner * RPT),
        min_stake_validator=int(min_stake_validator * RPT),
        min_stake_evaluator=int(min_stake_evaluator * RPT),
        cooldown=cooldown,
        max_task_duration=max_task_duration,
        min_audit_time=min_audit_time,
        committee_seats=committee_seats,
        quorum_bps=quorum_bps,
        supermajority_bps=supermajority_bps,
        validator_fee_bps=validator_fee_bps,
        base_share_bps=base_share_bps,
        deterrence_bps=deterrence_bps,
        forced_error_odds=forced_error_odds,
        validator_bond=int(validator_bond * RPT),
        jackpot=int(jackpot * RPT),
        dispute_window=dispute_window,
        jury_commit_window=jury_commit_window,
        jury_reveal_window=jury_reveal_window,
        juror_fee_bps=juror_fee_bps,
        treasury_seed=int(treasury_seed * RPT),
    )
    beacon_cfg = beacon_config(beacon, beacon_genesis, beacon_period, beacon_seed, beacon_key_file, now)
    sender = Sender(w3, account)
    deployment = deploy_all(w3, account, beacon_cfg, params, token=token, sender=sender)
    if fund:
        if token is not None:
            raise ChainError("--fund mints RollToken; it cannot mint an external --token.")
        owner = Chain(w3, deployment, sender)
        for address in fund:
            owner.token.mint(address, int(fund_amount * RPT))
    deployment.save(path)
    typer.echo(f"deployed on chain {deployment.chain_id} from block {deployment.deploy_block}:")
    for name, address in deployment.addresses.items():
        typer.echo(f"  {name:<13} {address}")
    typer.echo(f"beacon: {beacon_cfg.name}, genesis {beacon_cfg.genesis}, period {beacon_cfg.period} s")
    if fund:
        typer.echo(f"funded {len(fund)} address(es) with {format_rpt(int(fund_amount * RPT))} each")
    typer.echo(f"deployment file: {path}")
