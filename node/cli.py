"""`rollproof`: the command line of a Rollproof node.

Role commands (miner, validator, proposer, evaluator) and devnet take every config option as a
flag; the bodies live in `node.roles.<role>.run(config)` and `node.devnet.run(config)`, imported
only when the command runs, so a missing or broken module gives a sentence, not a broken CLI.
Sub-commands owned by other packages (keys, deploy, beacon) are forwarded the same lazy way.

Errors are sentences on stderr with a non-zero exit code: 1 for problems the user can fix,
2 for usage errors (from the argument parser), 70 for internal errors (traceback only with
ROLLPROOF_DEBUG=1).
"""

from __future__ import annotations

import errno
import importlib
import inspect
import json
import os
import re
import socket
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape

from node.config import (
    COMMAND_SECTIONS,
    GENERAL_SECTIONS,
    Config,
    UserError,
    load_config,
    section_options,
    write_default_config,
)

EXIT_USER = 1
EXIT_INTERNAL = 70
DEBUG_ENV = "ROLLPROOF_DEBUG"
RPC_TIMEOUT_S = 3.0

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)

APP_HELP = (
    "Rollproof: a proof-of-rollout incentive network for decentralized RL post-training of LLMs.\n\n"
    "Staked [bold]miners[/bold] generate RL rollouts for posted tasks with a verifiable sampler, share "
    "them over libp2p and commit a Merkle root on chain; [bold]validators[/bold] audit a drand-sampled "
    "subset by recomputing token logprobs; the contracts pay verified work and slash fraud. A "
    "[bold]proposer[/bold] funds and posts tasks; an [bold]evaluator[/bold] re-scores gossiped rollouts.\n\n"
    "Quick start on one machine: [cyan]rollproof devnet[/cyan]. A node of your own: "
    "[cyan]rollproof config init[/cyan], [cyan]rollproof keys new[/cyan], then "
    "[cyan]rollproof miner --config rollproof.toml[/cyan].\n\n"
    "Every option is also an environment variable ROLLPROOF_<NAME> and a key of the TOML config file; "
    "precedence: flag > environment > file > default."
)

app = typer.Typer(
    name="rollproof",
    help=APP_HELP,
    no_args_is_help=True,
    rich_markup_mode="rich",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Write, show and check node config files.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print figures (never part of the tests).", no_args_is_help=True)
app.add_typer(config_app, name="config", rich_help_panel="Setup")
app.add_typer(bench_app, name="bench", rich_help_panel="Tools")


# ---- errors ---------------------------------------------------------------------------------------


def _sentence(message: str) -> str:
    """Capitalise and end with a full stop, so messages from every package read alike."""
    text = str(message).strip() or "Something went wrong."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def fail(message: str, code: int = EXIT_USER) -> typer.Exit:
    """Print `message` as an error sentence and return the Exit to raise."""
    err_console.print(f"[bold red]Error:[/bold red] {escape(_sentence(message))}", soft_wrap=True)
    return typer.Exit(code=code)


def _user_error_types() -> tuple[type[BaseException], ...]:
    """Exception classes whose message is a sentence meant for the user (from any package present)."""
    types: list[type[BaseException]] = [UserError]
    for module, names in (
        ("node.store.store", ("StoreError",)),
        ("node.store.states", ("InvalidTransition",)),
        ("chain.keys", ("KeyFileError",)),
        ("chain.errors", ("ChainError",)),
        ("chain.artifacts", ("ArtifactError",)),
        ("verifier.models", ("ModelError",)),
        ("verifier.beacon", ("BeaconError",)),
        ("verifier.beacon_server", ("KeyFileError",)),
        ("node.roles.common", ("RoleError",)),
        ("node.devnet", ("DevnetError",)),
        ("node.p2p.host", ("P2PError",)),
        ("node.p2p.identity", ("IdentityError",)),
        ("chain.anvil", ("AnvilError",)),
    ):
        mod = sys.modules.get(module)
        if mod is None:
            continue
        types.extend(t for n in names if isinstance(t := getattr(mod, n, None), type))
    return tuple(types)


def guarded(body: Callable[[], Any]) -> Any:
    """Run a command body, turning known failures into sentences and exit codes."""
    try:
        return body()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        err_console.print("Interrupted; state is in the store, run the same command again to resume.")
        raise typer.Exit(code=130) from None
    except _user_error_types() as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise fail(
                f"A port this node needs is already in use ({exc}); pick free ports in the config."
            ) from None
        if isinstance(exc, FileNotFoundError | PermissionError) and exc.filename:
            raise fail(f"{exc.strerror}: {exc.filename}") from None
        raise _internal(exc) from None
    except Exception as exc:
        if type(exc).__name__ == "BadFunctionCallOutput":
            raise fail(
                "A contract call returned nothing: the deployment file names an address without that contract "
                "on this chain (stale after a chain restart?). Run `rollproof doctor`, and redeploy with "
                "`rollproof deploy --force` or point --deployment at this chain's file."
            ) from None
        raise _internal(exc) from None


def _internal(exc: BaseException) -> typer.Exit:
    if os.environ.get(DEBUG_ENV):
        traceback.print_exception(exc)
    hint = (
        ""
        if os.environ.get(DEBUG_ENV)
        else f" Run again with {DEBUG_ENV}=1 to see the traceback, and report it."
    )
    return fail(f"Internal error: {type(exc).__name__}: {exc}.{hint}", code=EXIT_INTERNAL)


# ---- config options as flags ----------------------------------------------------------------------

_PY_TYPES: dict[type, Any] = {
    str: str | None,
    int: int | None,
    float: float | None,
    bool: bool | None,
    list: list[str] | None,
}
PANEL = {
    "node": "Node",
    "chain": "Chain",
    "p2p": "P2P",
    "beacon": "Beacon",
    "model": "Model",
    "miner": "Miner",
    "validator": "Validator",
    "proposer": "Proposer",
    "evaluator": "Evaluator",
    "devnet": "Devnet",
}


def config_parameters(sections: list[str]) -> list[inspect.Parameter]:
    """One keyword parameter per option of `sections`, annotated as a typer Option (default None)."""
    params = []
    for section in sections:
        for spec in section_options(section):
            decl = spec.flag if spec.type is not bool else f"{spec.flag}/--no-{spec.flag[2:]}"
            default = "" if spec.default in ("", []) else f" Default: {spec.default}."
            option = typer.Option(
                decl,
                help=escape(f"{spec.help}{default} [env: {spec.env_var}]"),
                rich_help_panel=PANEL[section],
                show_default=False,
            )
            params.append(
                inspect.Parameter(
                    f"{section}__{spec.key}",
                    inspect.Parameter.KEYWORD_ONLY,
                    default=None,
                    annotation=Annotated[_PY_TYPES[spec.type], option],
                )
            )
    return params


CONFIG_PARAM = inspect.Parameter(
    "config_file",
    inspect.Parameter.KEYWORD_ONLY,
    default=None,
    annotation=Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="TOML config file (default: $ROLLPROOF_CONFIG, else ./rollproof.toml if present).",
            show_default=False,
        ),
    ],
)


def overrides_from(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Flag values keyed "section.key", from the generated parameters' names."""
    out = {}
    for name, value in kwargs.items():
        if "__" in name and value is not None:
            section, key = name.split("__", 1)
            out[f"{section}.{key}"] = value
    return out


def config_command(
    name: str,
    sections: list[str],
    help: str,
    panel: str,
    extra: list[inspect.Parameter] = (),  # type: ignore[assignment]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn(cfg, **extra)` as command `name` with --config and a flag per option of `sections`."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        params = [CONFIG_PARAM, *extra, *config_parameters(sections)]
        extra_names = {p.name for p in extra}

        def command(**kwargs: Any) -> Any:
            def body() -> Any:
                cfg = load_config(kwargs.get("config_file"), overrides=overrides_from(kwargs))
                return fn(cfg, **{k: v for k, v in kwargs.items() if k in extra_names})

            return guarded(body)

        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__name__ = fn.__name__
        command.__doc__ = help
        app.command(name, help=help, rich_help_panel=panel)(command)
        return fn

    return register


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


def p2p_listen_port(listen: str) -> tuple[str, int] | None:
    """(host, tcp port) of a /ip4|ip6/<host>/tcp/<port> multiaddr, else None."""
    parts = listen.strip("/").split("/")
    if len(parts) >= 4 and parts[0] in ("ip4", "ip6") and parts[2] == "tcp" and parts[3].isdigit():
        return parts[1], int(parts[3])
    return None


def check_rpc(cfg: Config) -> int:
    """The chain id at the RPC URL; a sentence if nothing answers there."""
    import httpx

    url = cfg.chain.rpc_url
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    try:
        reply = httpx.post(url, json=body, timeout=RPC_TIMEOUT_S)
        reply.raise_for_status()
        return int(reply.json()["result"], 16)
    except httpx.HTTPError as exc:
        reason = type(exc).__name__
        raise UserError(
            f"Cannot reach the chain RPC at {url} ({reason}); start the chain (e.g. `anvil`) or fix "
            "--rpc-url / ROLLPROOF_RPC_URL / [chain] rpc_url."
        ) from None
    except (ValueError, KeyError, TypeError):
        raise UserError(
            f"{url} answered, but not as an Ethereum JSON-RPC endpoint; check --rpc-url."
        ) from None


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


def unlock_account(cfg: Config) -> Any:
    """Decrypt the keystore with the configured passphrase source; sentences for every failure."""
    if not cfg.chain.keystore:
        raise UserError(
            "No keystore is configured; create one with `rollproof keys new` and pass --keystore "
            "(or set ROLLPROOF_KEYSTORE or [chain] keystore)."
        )
    try:
        from chain.keys import load_account, read_keystore_json, read_passphrase
    except ImportError as exc:
        raise UserError(f"The chain package is not available ({exc}); reinstall Rollproof.") from None
    read_keystore_json(cfg.chain.keystore)  # existence and shape first: no prompt for a missing file
    # Prompt only on a terminal; otherwise a missing passphrase is a sentence, not a hang or EOFError.
    prompt = "Keystore passphrase: " if sys.stdin is not None and sys.stdin.isatty() else None
    passphrase = read_passphrase(cfg.chain.passphrase_file or None, prompt=prompt)
    with err_console.status("Decrypting the keystore..."):
        return load_account(cfg.chain.keystore, passphrase)


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


def run_role(cfg: Config, role: str) -> None:
    lock = lock_data_dir(cfg.data_dir)
    key_lock = None
    try:
        key_lock = lock_keystore(cfg.chain.keystore, cfg.data_dir)
        _run_role_locked(cfg, role)
    finally:
        if key_lock is not None:
            key_lock.close()
        lock.close()


def check_proposer_target(cfg: Config) -> None:
    """`--tasks N` counts every task this data dir's proposer posted and settled; when N are settled
    already there is nothing to do, which is said rather than exiting 0 having posted nothing."""
    target = cfg.proposer.tasks
    if not target:
        return
    from node.store import open_store
    from node.store.states import ProposerState, Role

    store = open_store(cfg.store_url)
    try:
        settled = len(store.tasks_in_state(Role.PROPOSER, [ProposerState.CLAIMED]))
    finally:
        store.close()
    if settled >= target:
        raise UserError(
            f"The proposer of the data dir {cfg.data_dir} has already posted and settled {settled} task(s), and "
            f"--tasks {target} counts every task of this data dir, so there is nothing left to post; pass "
            f"--tasks {settled + target} to post {target} more, or --tasks 0 to keep posting."
        )


def _run_role_locked(cfg: Config, role: str) -> None:
    preflight(cfg, needs_p2p="p2p" in COMMAND_SECTIONS[role], role=role)
    if role == "proposer":
        check_proposer_target(cfg)
    run = import_entry(f"node.roles.{role}", "run", f"The {role} role")
    server = start_observability(cfg, role)
    try:
        result = run(cfg)
    finally:
        if server is not None:
            server.shutdown()
    if isinstance(result, int) and result != 0:
        raise typer.Exit(code=result)


ROLE_HELP = {
    "miner": "Run a miner: stake, join tasks with your adapter, generate rollouts with the verifiable "
    "sampler, gossip them, commit the Merkle root, serve openings, train between tasks, claim rewards.",
    "validator": "Run a validator: after each commit deadline, audit a beacon-sampled subset of every "
    "miner's rollouts with the committed model, commit and reveal verdicts, finalize.",
    "proposer": "Run a proposer: fund and post tasks, and adapt their difficulty to the swarm's success rate.",
    "evaluator": "Run an evaluator: re-score gossiped rollouts with the environment's verifier and gossip signed scores.",
}


def _register_role(role: str) -> None:
    @config_command(role, COMMAND_SECTIONS[role], ROLE_HELP[role], "Roles")
    def _role(cfg: Config) -> None:
        run_role(cfg, role)


for _role_name in ("miner", "validator", "proposer", "evaluator"):
    _register_role(_role_name)


@config_command(
    "devnet",
    COMMAND_SECTIONS["devnet"],
    "Run a whole network on this machine: Anvil, the contracts, a local drand beacon, a proposer, "
    "honest and cheating miners, an evaluator, honest, lazy and always-fail validators as separate processes, "
    "through settlement. Prints a summary (--json for JSON) and exits non-zero unless honest miners and "
    "validators were paid, the cheater was slashed, both deviating validators lost money and no honest "
    "party lost stake.",
    "Roles",
)
def devnet_command(cfg: Config) -> None:
    check_model(cfg)
    run = import_entry("node.devnet", "run", "The devnet")
    result = run(cfg)
    if isinstance(result, int) and result != 0:
        raise typer.Exit(code=result)
    if result is False:
        raise typer.Exit(code=EXIT_USER)


# ---- status -----------------------------------------------------------------------------------------

STATUS_EXTRA = [
    inspect.Parameter(
        "as_json",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("--json", help="Print the status as JSON.")],
    ),
    inspect.Parameter(
        "offline",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool, typer.Option("--offline", help="Read only the local store; do not ask the chain.")
        ],
    ),
]


@config_command(
    "status",
    list(GENERAL_SECTIONS),
    "Show this node's stake, peers, current tasks, rewards and slashes (from the chain and the local store).",
    "Node",
    extra=STATUS_EXTRA,
)
def status_command(cfg: Config, as_json: bool = False, offline: bool = False) -> None:
    from node.status import collect_status, render_status

    if not offline:
        with err_console.status(f"Reading {cfg.chain.rpc_url}..."):
            chain_id = check_rpc(cfg)
        check_deployment(cfg, chain_id)
    status = collect_status(cfg, chain=not offline)
    if as_json:
        typer.echo(json.dumps(status.to_json(), indent=2))
    else:
        render_status(status, out_console)


# ---- operator commands: money, tasks, doctor, audit ---------------------------------------------

stake_app = typer.Typer(
    help="Stake RPT for a role, start an unstake (cooldown), withdraw cooled-down stake.",
    no_args_is_help=True,
)
task_app = typer.Typer(help="Tasks on chain: list them, show one, cancel your own.", no_args_is_help=True)
app.add_typer(stake_app, name="stake", rich_help_panel="Operator")
app.add_typer(task_app, name="task", rich_help_panel="Operator")
deployment_app = typer.Typer(
    help="The deployment file's bootstrap peers: list them, add one.", no_args_is_help=True
)
app.add_typer(deployment_app, name="deployment", rich_help_panel="Operator")

# The options an operator command reads: where the node's data, chain, peers and beacon are.
OPS_SECTIONS = ["node", "chain", "p2p", "beacon"]


def _param(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


JSON_PARAM = _param(
    "as_json", Annotated[bool, typer.Option("--json", help="Print the result as JSON.")], False
)
ROLE_PARAM = _param(
    "role",
    Annotated[str, typer.Option("--role", help="miner, validator or evaluator.", show_default=True)],
    "miner",
)


def emit(report: Any, as_json: bool) -> None:
    """Print a node.ops Report as JSON or lines; a report that is not OK exits 1."""
    if as_json:
        typer.echo(report.json_text())
    else:
        for line in report.lines:
            out_console.print(escape(line), soft_wrap=True)
    if not report.ok:
        raise typer.Exit(code=EXIT_USER)


def ops_command(
    target: typer.Typer,
    name: str,
    help: str,
    extra: list[inspect.Parameter],
    sections: list[str] = OPS_SECTIONS,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn(cfg, **extra) -> Report` as `name` on `target`, with --config, --json and the
    config flags of `sections` (so --rpc-url, --keystore, --deployment mean what they mean everywhere)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        params = [*[p for p in extra if p.default is inspect.Parameter.empty]]
        params += [CONFIG_PARAM, *[p for p in extra if p.default is not inspect.Parameter.empty], JSON_PARAM]
        params += config_parameters(sections)
        extra_names = {p.name for p in extra}

        def command(**kwargs: Any) -> Any:
            def body() -> Any:
                cfg = load_config(kwargs.get("config_file"), overrides=overrides_from(kwargs))
                report = fn(cfg, **{k: v for k, v in kwargs.items() if k in extra_names})
                emit(report, kwargs["as_json"])

            return guarded(body)

        # Positional arguments first: a keyword-only signature keeps them in this order for click.
        command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
        )
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__name__ = fn.__name__
        command.__doc__ = help
        target.command(name, help=help, rich_help_panel="Operator" if target is app else None)(command)
        return fn

    return register


def _ops(module: str, attr: str) -> Callable[..., Any]:
    return import_entry(f"node.ops.{module}", attr, "Operator commands")


AMOUNT_ARG = _param(
    "amount",
    Annotated[str, typer.Argument(help="RPT amount, e.g. 100 or 0.5.", metavar="AMOUNT", show_default=False)],
)
TASK_ARG = _param(
    "task_id",
    Annotated[int, typer.Argument(help="Task id on chain.", min=1, metavar="TASK", show_default=False)],
)


@ops_command(
    stake_app,
    "add",
    "Add AMOUNT RPT to this account's active stake for --role (approves the StakeManager first). "
    "Refused before any transaction when the result would stay below the role minimum.",
    [AMOUNT_ARG, ROLE_PARAM],
)
def stake_add_command(cfg: Config, amount: str, role: str) -> Any:
    return _ops("money", "stake_add")(cfg, amount, role)


@ops_command(
    stake_app,
    "unstake",
    "Start the cooldown of AMOUNT RPT (or 'all') of the active --role stake; withdraw it after the cooldown.",
    [
        _param(
            "amount",
            Annotated[
                str, typer.Argument(help="RPT amount, or 'all'.", metavar="AMOUNT", show_default=False)
            ],
        ),
        ROLE_PARAM,
    ],
)
def stake_unstake_command(cfg: Config, amount: str, role: str) -> Any:
    return _ops("money", "stake_unstake")(cfg, amount, role)


@ops_command(stake_app, "withdraw", "Withdraw the --role stake whose cooldown has ended.", [ROLE_PARAM])
def stake_withdraw_command(cfg: Config, role: str) -> Any:
    return _ops("money", "stake_withdraw")(cfg, role)


@ops_command(app, "claim", "Withdraw every reward settlement credited to this account.", [])
def claim_command(cfg: Config) -> Any:
    return _ops("money", "claim")(cfg)


ADDRESS_PARAM = _param(
    "address",
    Annotated[
        str | None,
        typer.Option(
            "--address", help="Report on this address instead of the keystore's.", show_default=False
        ),
    ],
    None,
)


@ops_command(
    app,
    "balance",
    "RPT, ETH for gas, stake per role (active, cooling with its end), and claimable rewards. "
    "Needs no passphrase.",
    [ADDRESS_PARAM],
)
def balance_command(cfg: Config, address: str | None) -> Any:
    return _ops("money", "balance")(cfg, address)


@ops_command(
    task_app,
    "list",
    "The newest tasks on chain with their status and phase (join, commit, verdict, reveal, settle).",
    [
        _param(
            "mine", Annotated[bool, typer.Option("--mine", help="Only tasks this account posted.")], False
        ),
        _param(
            "status",
            Annotated[str, typer.Option("--status", help="open, cancelled or finalized (default: all).")],
            "",
        ),
        _param(
            "limit", Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most this many.")], 20
        ),
    ],
)
def task_list_command(cfg: Config, mine: bool, status: str, limit: int) -> Any:
    return _ops("tasks", "task_list")(cfg, mine, status, limit)


@ops_command(
    task_app,
    "show",
    "One task: parameters, deadlines, every miner's outcome, validators, settlement.",
    [TASK_ARG],
)
def task_show_command(cfg: Config, task_id: int) -> Any:
    return _ops("tasks", "task_show")(cfg, task_id)


@ops_command(
    task_app,
    "cancel",
    "Cancel your open task (before anyone joined, or once its commit window closed empty); refunds the escrow.",
    [TASK_ARG],
)
def task_cancel_command(cfg: Config, task_id: int) -> Any:
    return _ops("tasks", "task_cancel")(cfg, task_id)


@ops_command(
    app,
    "doctor",
    "Check everything a node needs: RPC and chain id, contract code at every deployment address, the beacon "
    "(contract, relay, key, genesis, period), ports, gas, stake, peer id, peers, clock skew. Read-only; "
    "prints OK or FAULT per check and exits 1 on any fault.",
    [
        _param(
            "role",
            Annotated[
                str,
                typer.Option("--role", help="The role to check for: miner, validator, evaluator, proposer."),
            ],
            "miner",
        )
    ],
)
def doctor_command(cfg: Config, role: str) -> Any:
    return _ops("doctor", "doctor")(cfg, role)


@ops_command(
    app,
    "audit",
    "Re-audit a settled task: re-derive each miner's challenge from the chain and the beacon, take the "
    "openings from the local store or from peers, recompute them with the model, and print the verdict next "
    "to the one validators settled on chain (exit 1 where they differ).",
    [
        TASK_ARG,
        _param(
            "miner",
            Annotated[
                str | None, typer.Option("--miner", help="Only this miner (default: every committed miner).")
            ],
            None,
        ),
    ],
    sections=list(GENERAL_SECTIONS),
)
def audit_command(cfg: Config, task_id: int, miner: str | None) -> Any:
    return _ops("audit", "audit")(cfg, task_id, miner)


@ops_command(deployment_app, "peers", "The bootstrap peers the deployment file names.", [])
def deployment_peers_command(cfg: Config) -> Any:
    return _ops("deployment", "peers")(cfg)


@ops_command(
    deployment_app,
    "add-peer",
    "Add bootstrap peers to the deployment file (every node reads them at start). An ADDR without "
    "/p2p/<peer id> gets this node's peer id; with no ADDR, this node's --announce addresses are added.",
    [
        _param(
            "addrs",
            Annotated[
                list[str] | None,
                typer.Argument(
                    help="Multiaddrs, e.g. /ip4/10.0.0.1/tcp/4001/p2p/<peer id>.", metavar="[ADDR]..."
                ),
            ],
            None,
        )
    ],
)
def deployment_add_peer_command(cfg: Config, addrs: list[str] | None) -> Any:
    return _ops("deployment", "add_peer")(cfg, list(addrs or []))


# ---- config sub-commands -------------------------------------------------------------------------


@config_app.command("init")
def config_init(
    path: Annotated[Path, typer.Argument(help="Where to write the file.")] = Path("rollproof.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write an annotated config file with every option at its default."""

    def body() -> None:
        written = write_default_config(path, force=force)
        out_console.print(
            f"Wrote {written}. Edit it, then run e.g. [cyan]rollproof miner --config {written}[/cyan]."
        )

    guarded(body)


def _show(cfg: Config, as_json: bool = False) -> None:
    from node.store.store import redact_url

    data = cfg.as_dict()
    if data["node"]["store_url"]:
        data["node"]["store_url"] = redact_url(data["node"]["store_url"])  # may hold a password
    if as_json:
        typer.echo(
            json.dumps({"config_file": cfg.config_file, "values": data, "sources": cfg.sources}, indent=2)
        )
        return
    from rich.table import Table

    table = Table(title=f"Effective configuration ({cfg.config_file or 'no config file'})")
    for col in ("option", "value", "from"):
        table.add_column(col)
    for section, values in data.items():
        for key, value in values.items():
            table.add_row(f"{section}.{key}", repr(value), cfg.sources.get(f"{section}.{key}", "default"))
    out_console.print(table)


def config_problems(cfg: Config) -> list[str]:
    """What a node started from `cfg` would stop on before reaching the chain: the model, the
    keystore, the deployment file (values and types were checked while loading)."""
    problems = []
    try:
        check_model(cfg)
    except UserError as exc:
        problems.append(str(exc))
    if not cfg.chain.keystore:
        problems.append(
            "No keystore is configured, and every role needs one; create it with `rollproof keys new` and set "
            "[chain] keystore (or --keystore)."
        )
    elif not Path(cfg.chain.keystore).is_file():
        problems.append(
            f"The keystore {cfg.chain.keystore} does not exist; create it with `rollproof keys new`."
        )
    else:
        try:
            from chain.keys import keystore_address

            keystore_address(cfg.chain.keystore)
        except Exception as exc:  # noqa: BLE001 - KeyFileError and kin, reported as a problem
            problems.append(str(exc))
    try:
        from node.ops.common import load_deployment

        load_deployment(cfg)
    except UserError as exc:
        problems.append(str(exc))
    return problems


def _register_config_show() -> None:
    params = [
        CONFIG_PARAM,
        inspect.Parameter(
            "as_json",
            inspect.Parameter.KEYWORD_ONLY,
            default=False,
            annotation=Annotated[bool, typer.Option("--json", help="Print as JSON.")],
        ),
        # Role options share flag names across roles (--stake), so only general ones are flags here;
        # role options still come from the file and the environment.
        *config_parameters(list(GENERAL_SECTIONS)),
    ]

    def show(**kwargs: Any) -> None:
        guarded(
            lambda: _show(
                load_config(kwargs.get("config_file"), overrides=overrides_from(kwargs)), kwargs["as_json"]
            )
        )

    def check(**kwargs: Any) -> None:
        def body() -> None:
            cfg = load_config(kwargs.get("config_file"), overrides=overrides_from(kwargs))
            problems = config_problems(cfg)
            where = cfg.config_file or "defaults, no file"
            if problems:
                for problem in problems:
                    err_console.print(
                        f"[bold red]Error:[/bold red] {escape(_sentence(problem))}", soft_wrap=True
                    )
                raise fail(f"The configuration ({where}) has {len(problems)} problem(s); see above")
            out_console.print(f"The configuration is valid ({where}).")

        guarded(body)

    for fn, doc in (
        (
            show,
            "Show the effective configuration and where each value comes from (flag, env, file, default).",
        ),
        (check, "Check a config file (and environment and flags) without running anything."),
    ):
        ps = params if fn is show else [p for p in params if p.name != "as_json"]
        fn.__signature__ = inspect.Signature(ps)  # type: ignore[attr-defined]
        fn.__annotations__ = {p.name: p.annotation for p in ps}
        config_app.command(fn.__name__, help=doc)(fn)


_register_config_show()


# ---- sub-commands owned by other packages, forwarded lazily ---------------------------------------

FORWARD_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def forward(module: str, attr: str, prog_name: str, args: list[str], what: str) -> None:
    """Run the typer app / command `module.attr` with `args`, importing it only now."""

    def body() -> None:
        target = import_entry(module, attr, what)
        if isinstance(target, typer.Typer):
            command = typer.main.get_command(target)
        elif hasattr(target, "main") and hasattr(target, "params"):
            command = target  # already a click command
        else:
            single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            single.command()(target)
            command = typer.main.get_command(single)
        try:
            # Not standalone, click *returns* the code of an Exit (e.g. a failed `beacon verify`)
            # instead of exiting with it; it must become this process's exit code.
            code = command.main(args=list(args), prog_name=prog_name, standalone_mode=False)
        except typer.Exit:
            raise
        except click.exceptions.Abort:
            raise UserError(
                "Aborted: the command needed input and got none (no terminal?); pass the file options "
                "it offers instead (e.g. --passphrase-file, --private-key-file)."
            ) from None
        except Exception as exc:
            # click's own usage errors carry an exit code and know how to show themselves.
            show = getattr(exc, "show", None)
            code = getattr(exc, "exit_code", None)
            if callable(show) and isinstance(code, int):
                show()
                raise typer.Exit(code=code) from None
            raise
        if isinstance(code, int) and code != 0:
            raise typer.Exit(code=code)

    code = None
    try:
        guarded(body)
    except typer.Exit as exc:
        code = exc.exit_code
    except SystemExit as exc:  # a forwarded command may exit directly
        code = exc.code if isinstance(exc.code, int) else EXIT_USER
    if code:
        raise typer.Exit(code=code)


@app.command(
    "keys",
    context_settings=FORWARD_SETTINGS,
    add_help_option=False,
    rich_help_panel="Setup",
    help="Create and inspect keystores (account + libp2p identity) and register the peer id on chain. "
    "Run `rollproof keys --help`.",
)
def keys_command(ctx: typer.Context) -> None:
    forward("chain.cli", "keys_app", "rollproof keys", ctx.args, "The keys command")


@app.command(
    "deploy",
    context_settings=FORWARD_SETTINGS,
    add_help_option=False,
    rich_help_panel="Setup",
    help="Deploy the contracts (token, stakes, task board, settlement, drand beacon) and write the "
    "deployment file. Run `rollproof deploy --help`.",
)
def deploy_command(ctx: typer.Context) -> None:
    forward("chain.cli", "deploy", "rollproof deploy", ctx.args, "The deploy command")


@app.command(
    "beacon",
    context_settings=FORWARD_SETTINGS,
    add_help_option=False,
    rich_help_panel="Tools",
    help="drand beacons: verify one, fetch verified ones, run a local devnet beacon. Run `rollproof beacon --help`.",
)
def beacon_command(ctx: typer.Context) -> None:
    forward("verifier.cli", "beacon_app", "rollproof beacon", ctx.args, "The beacon command")


@bench_app.command("verify")
def bench_verify(
    model: Annotated[str, typer.Option(help="Model spec: smollm2, tiny, or a path.")] = "smollm2",
    threads: Annotated[int, typer.Option(min=1, max=256, help="torch CPU threads.")] = 1,
    batch: Annotated[int, typer.Option(min=1, max=1024, help="The miner's decode batch.")] = 8,
    calibrate: Annotated[bool, typer.Option(help="Measure honest deviations with the model (slow).")] = True,
    honest_tiny: Annotated[int, typer.Option(min=8, help="Honest tiny-model rollouts to check.")] = 1000,
    detection_trials: Annotated[int, typer.Option(min=1, help="Cheating trials per attack.")] = 200,
) -> None:
    """Measure generation vs audit cost, honest deviations and cheat detection; prints figures."""

    def body() -> None:
        config_cls = import_entry("verifier.bench", "BenchConfig", "The verify benchmark")
        run = import_entry("verifier.bench", "run_verify_bench", "The verify benchmark")
        cfg = config_cls(
            model=model,
            threads=threads,
            batch=batch,
            calibrate=calibrate,
            honest_tiny=honest_tiny,
            detection_trials=detection_trials,
        )
        run(cfg, out=typer.echo)

    guarded(body)


@bench_app.command("honest")
def bench_honest(
    kernels: Annotated[
        bool, typer.Option(help="Cross-kernel calibration: every ATen CPU capability x threads 1-2.")
    ] = False,
    bf16: Annotated[bool, typer.Option(help="The bf16 study: honest bf16 deviations vs cheats.")] = False,
    model: Annotated[str, typer.Option(help="Model spec: smollm2, tiny, or a path.")] = "smollm2",
    rollouts: Annotated[
        int, typer.Option(min=1, help="Honest rollouts (per setting with --kernels).")
    ] = 1000,
    tokens: Annotated[int, typer.Option(min=1, max=4096, help="Max new tokens per rollout.")] = 48,
    floor_rollouts: Annotated[int, typer.Option(min=1, help="--kernels: rollouts per detection level.")] = 16,
) -> None:
    """Honest false rejections at scale, or (--kernels) cross-kernel calibration and detection floor,
    or (--bf16) the bf16 study; prints figures."""

    def body() -> None:
        if bf16:
            import_entry("verifier.kernels", "run_bf16_bench", "The bf16 study")(
                model, rollouts, tokens, typer.echo
            )
        elif kernels:
            run = import_entry("verifier.kernels", "run_kernels_bench", "The kernels benchmark")
            run(model, rollouts, tokens, floor_rollouts=floor_rollouts, out=typer.echo)
        else:
            run = import_entry("verifier.kernels", "run_honest_bench", "The honest benchmark")
            run(model, rollouts, tokens, out=typer.echo)

    guarded(body)


@bench_app.command(
    "economics",
    context_settings=FORWARD_SETTINGS,
    add_help_option=False,
    help="Expected profit per task of every strategy under the settlement rules (10,000 simulated tasks). "
    "Run `rollproof bench economics --help`.",
)
def bench_economics(ctx: typer.Context) -> None:
    def body() -> None:
        # bench/ sits next to node/ in a source checkout and is not an installed package.
        root = str(Path(__file__).resolve().parents[1])
        if (Path(root) / "bench" / "economics.py").exists() and root not in sys.path:
            sys.path.insert(0, root)
        raise typer.Exit(
            code=import_entry("bench.economics", "main", "The economics simulation")(
                ctx.args, "rollproof bench economics"
            )
        )

    guarded(body)


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        try:
            typer.echo(f"rollproof {dist_version('rollproof')}")
        except PackageNotFoundError:
            typer.echo("rollproof (not installed)")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def main() -> None:
    """Console-script entry point (`rollproof`)."""
    app()


if __name__ == "__main__":
    main()
