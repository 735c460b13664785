"""Operator commands: status, money (stake, claim, balance), tasks, doctor and audit."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.markup import escape

from node.cli.base import (
    CONFIG_PARAM,
    EXIT_USER,
    app,
    config_command,
    config_parameters,
    err_console,
    guarded,
    out_console,
    overrides_from,
)
from node.cli.preflight import (
    check_deployment,
    check_rpc,
    import_entry,
)
from node.config import (
    GENERAL_SECTIONS,
    Config,
    load_config,
)

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
