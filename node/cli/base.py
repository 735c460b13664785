"""The `rollproof` app: its error handling (sentences and exit codes) and the config options as flags."""

from __future__ import annotations

import errno
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from node.config import (
    UserError,
    load_config,
    section_options,
)

EXIT_USER = 1
EXIT_INTERNAL = 70
DEBUG_ENV = "ROLLPROOF_DEBUG"

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
        ("node.store.database", ("StoreError",)),
        ("node.store.states", ("InvalidTransition",)),
        ("chain.keys", ("KeyFileError",)),
        ("chain.errors", ("ChainError",)),
        ("chain.artifacts", ("ArtifactError",)),
        ("verifier.models", ("ModelError",)),
        ("verifier.beacon", ("BeaconError",)),
        ("node.runtime.errors", ("RoleError",)),
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
    """Console-script entry point (`rollproof`). A command that loaded the model ends without the
    interpreter's slow teardown (node.runtime.stop.exit_process): Ctrl-C on a node exits at once."""
    try:
        app()
    except SystemExit as exc:
        if exc.code is not None and not isinstance(exc.code, int):
            raise
        from node.runtime.stop import exit_process

        exit_process(exc.code or 0)
