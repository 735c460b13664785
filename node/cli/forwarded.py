"""Sub-commands owned by other packages (keys, deploy, beacon, bench), imported only when they run."""

from __future__ import annotations

from typing import Annotated

import click
import typer

from node.cli.base import (
    EXIT_USER,
    app,
    bench_app,
    guarded,
)
from node.cli.preflight import (
    bench_entry,
    import_entry,
)
from node.config import (
    UserError,
)

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


def forward_command(name: str, module: str, attr: str, help: str, panel: str) -> None:
    """Register `rollproof name ...` as `module.attr` run with every argument as given; the module
    is imported only when the command runs."""

    def command(ctx: typer.Context) -> None:
        forward(module, attr, f"rollproof {name}", ctx.args, f"The {name} command")

    app.command(
        name, context_settings=FORWARD_SETTINGS, add_help_option=False, rich_help_panel=panel, help=help
    )(command)


forward_command(
    "keys",
    "chain.cli",
    "keys_app",
    "Create and inspect keystores (account + libp2p identity) and register the peer id on chain. "
    "Run `rollproof keys --help`.",
    "Setup",
)
forward_command(
    "deploy",
    "chain.cli",
    "deploy",
    "Deploy the contracts (token, stakes, task board, settlement, drand beacon) and write the "
    "deployment file. Run `rollproof deploy --help`.",
    "Setup",
)
forward_command(
    "beacon",
    "node.beacon_cli",
    "beacon_app",
    "drand beacons: verify one, fetch verified ones, run a local devnet beacon. Run `rollproof beacon --help`.",
    "Tools",
)


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
        config_cls = bench_entry("bench.verify", "BenchConfig", "The verify benchmark")
        run = bench_entry("bench.verify", "run_verify_bench", "The verify benchmark")
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
    floor_rollouts: Annotated[
        int, typer.Option(min=0, help="--kernels: rollouts per detection level (0: no detection floor).")
    ] = 16,
    full_length: Annotated[
        bool, typer.Option(help="--kernels: every rollout runs to --tokens, past its EOS (long contexts).")
    ] = False,
) -> None:
    """Honest false rejections at scale, or (--kernels) cross-kernel calibration and detection floor,
    or (--bf16) the bf16 study; prints figures."""

    def body() -> None:
        if bf16:
            bench_entry("bench.bf16", "run_bf16_bench", "The bf16 study")(model, rollouts, tokens, typer.echo)
        elif kernels:
            run = bench_entry("bench.kernels", "run_kernels_bench", "The kernels benchmark")
            run(
                model,
                rollouts,
                tokens,
                floor_rollouts=floor_rollouts,
                out=typer.echo,
                full_length=full_length,
            )
        else:
            run = bench_entry("bench.honest", "run_honest_bench", "The honest benchmark")
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
        raise typer.Exit(
            code=bench_entry("bench.economics", "main", "The economics simulation")(
                ctx.args, "rollproof bench economics"
            )
        )

    guarded(body)
