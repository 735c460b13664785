"""`rollproof config init|show|check`."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from node.cli.base import (
    CONFIG_PARAM,
    _sentence,
    config_app,
    config_parameters,
    err_console,
    fail,
    guarded,
    out_console,
    overrides_from,
)
from node.cli.preflight import (
    check_model,
)
from node.config import (
    GENERAL_SECTIONS,
    Config,
    UserError,
    load_config,
    write_default_config,
)

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
    from node.store.database import redact_url

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
