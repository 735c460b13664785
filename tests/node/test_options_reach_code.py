"""Every option of every command reaches the code that it names (issue 17).

One row per option: a non-default value and where it must arrive. Each row is run for every command
that takes the option, once per source (flag, environment variable, TOML file), through the real
`rollproof` command line up to the point where the role would start; then the role's own set-up
functions (RoleSettings, the P2P configuration, the learner's configuration, the audit's
tolerances, the proposer's schedule, logging and /metrics, the devnet's options) are built from
what arrived, and the row checks the value there. An option without a row fails
`test_every_option_has_a_row`, so no option can be added that reaches nothing.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import node.cli as cli
from node.config import COMMAND_SECTIONS, Config, all_options, section_options
from node.logging import JsonLinesFormatter, setup_logging

RPT = 10**18
BOOT = "/ip4/127.0.0.1/tcp/4101/p2p/16Uiu2HAmKz6tQ2uJKBt7p1cZq3JgJ9W7WjBfH5cVf6gqLr3D9o1A"


@dataclass
class Use:
    """What a command set up from its configuration: where the options are used."""

    command: str
    cfg: Config
    tmp: Path
    settings: Any = None  # node.runtime.settings.RoleSettings (roles)
    devnet: Any = None  # node.devnet.DevnetOptions (devnet)
    server: Any = None  # the /metrics server started by the CLI's start_observability

    @property
    def p2p(self) -> Any:
        from node.runtime.network import p2p_config

        return p2p_config(self.settings)

    @property
    def learner(self) -> Any:
        from node.roles.learning import learner_config

        return learner_config(self.settings, temperature=0.7)

    def training_rollouts(self) -> tuple[list[int], list[int]]:
        from node.roles.learning import pick_training_rollouts

        return pick_training_rollouts(list(range(100)), list(range(100)), self.settings, task_id=1)

    @property
    def prefill(self) -> Any:
        from node.roles.validator import audit_prefill

        return audit_prefill(self.settings)

    @staticmethod
    def root_handlers() -> list[logging.Handler]:
        return list(logging.getLogger().handlers)


@dataclass
class Row:
    value: Any  # a non-default value, or a function of the test's tmp dir giving one
    check: Callable[[Use, Any], bool]  # (use, value) -> the value arrived where it is used
    observability: bool = False  # the check needs the CLI's logging and /metrics set-up
    companions: dict[str, Any] = field(default_factory=dict)  # other options the row needs


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _file_handler(use: Use) -> Path | None:
    files = [h for h in use.root_handlers() if isinstance(h, logging.FileHandler)]
    return Path(files[0].baseFilename) if files else None


ROWS: dict[str, Row] = {
    # [node]
    "node.data_dir": Row(lambda t: str(t / "elsewhere"), lambda u, v: u.settings.data_dir == Path(v)),
    "node.store_url": Row(lambda t: f"sqlite:///{t / 'other.db'}", lambda u, v: u.settings.store_url == v),
    "node.log_level": Row(
        "debug", lambda u, v: logging.getLogger().level == logging.DEBUG, observability=True
    ),
    "node.log_json": Row(
        True,
        lambda u, v: isinstance(u.root_handlers()[0].formatter, JsonLinesFormatter),
        observability=True,
    ),
    "node.log_file": Row(
        lambda t: str(t / "logs" / "mine.jsonl"),
        lambda u, v: _file_handler(u) == Path(v),
        observability=True,
    ),
    "node.metrics_host": Row(
        "127.0.0.2",
        lambda u, v: u.server is not None and u.server.server_address[0] == v,
        observability=True,
        companions={"node.metrics_port": "free"},
    ),
    "node.metrics_port": Row(
        "free",
        lambda u, v: u.server is not None and u.server.server_address[1] == v,
        observability=True,
    ),
    "node.exit_when_idle": Row(7.5, lambda u, v: u.settings.exit_when_idle == v),
    # [chain]
    "chain.rpc_url": Row("http://127.0.0.9:8545", lambda u, v: u.settings.rpc_url == v),
    "chain.deployment": Row(lambda t: str(t / "dep.json"), lambda u, v: u.settings.deployment == Path(v)),
    "chain.keystore": Row(lambda t: str(t / "k.json"), lambda u, v: u.settings.keystore == Path(v)),
    "chain.passphrase_file": Row(
        lambda t: str(t / "pass"), lambda u, v: u.settings.passphrase_file == Path(v)
    ),
    "chain.confirmations": Row(3, lambda u, v: u.settings.confirmations == v),
    "chain.poll_interval": Row(2.5, lambda u, v: u.settings.poll_interval == v),
    # [p2p]
    "p2p.listen": Row("/ip4/127.0.0.1/tcp/4999", lambda u, v: u.p2p.listen_addr == v),
    "p2p.bootstrap": Row([BOOT], lambda u, v: u.p2p.bootstrap == v),
    "p2p.announce": Row(["/ip4/203.0.113.7/tcp/4001"], lambda u, v: u.p2p.announce == v),
    "p2p.identity_key": Row(
        lambda t: str(t / "id.p2p.key"),
        lambda u, v: u.p2p.identity_path == Path(v) and u.settings.identity_path == Path(v),
    ),
    "p2p.eclipse_protection": Row(False, lambda u, v: u.p2p.eclipse_protection is False),
    "p2p.stake_cache_seconds": Row(7.0, lambda u, v: u.p2p.stake_cache_seconds == v),
    "p2p.relay_hop": Row(True, lambda u, v: u.p2p.relay_hop is True),
    "p2p.relay_via": Row([BOOT], lambda u, v: u.p2p.relay_via == v),
    "p2p.relay_client": Row(False, lambda u, v: u.p2p.relay_client is False),
    # [beacon]
    "beacon.urls": Row(["http://127.0.0.1:9999"], lambda u, v: u.settings.beacon_urls == v),
    # [model]
    "model.model": Row(
        "tiny", lambda u, v: (u.devnet.model if u.devnet is not None else u.settings.model) == v
    ),
    "model.threads": Row(
        3, lambda u, v: (u.devnet.threads if u.devnet is not None else u.settings.threads) == v
    ),
    # [miner]
    "miner.stake": Row("250", lambda u, v: u.settings.stake == 250 * RPT),
    "miner.auto_stake": Row(False, lambda u, v: u.settings.stake == 0),
    "miner.train": Row(False, lambda u, v: u.settings.train is False),
    "miner.local_rollouts": Row(3, lambda u, v: len(u.training_rollouts()[0]) == v),
    "miner.swarm_rollouts": Row(5, lambda u, v: len(u.training_rollouts()[1]) == v),
    "miner.learning_rate": Row(0.003, lambda u, v: u.learner.learning_rate == v),
    "miner.lora_rank": Row(8, lambda u, v: u.settings.lora_rank == v),
    "miner.batch_size": Row(3, lambda u, v: u.settings.batch_size == v),
    "miner.adapter_dir": Row(lambda t: str(t / "ad"), lambda u, v: u.settings.adapter_path == Path(v)),
    "miner.tensorboard_dir": Row(
        lambda t: str(t / "tb"), lambda u, v: u.settings.tensorboard_path == Path(v)
    ),
    "miner.max_tasks": Row(4, lambda u, v: u.settings.max_tasks == v),
    "miner.cheat_model": Row("tiny:9", lambda u, v: u.settings.cheat is True and u.settings.cheap_model == v),
    # [validator]
    "validator.stake": Row("300", lambda u, v: u.settings.stake == 300 * RPT),
    "validator.auto_stake": Row(False, lambda u, v: u.settings.stake == 0),
    "validator.batch_size": Row(3, lambda u, v: u.prefill.batch == v),
    "validator.finalize": Row(False, lambda u, v: u.settings.finalize is False),
    "validator.max_tasks": Row(4, lambda u, v: u.settings.max_tasks == v),
    # [proposer]
    "proposer.env": Row("chain_sum", lambda u, v: u.settings.env == v),
    "proposer.reward": Row("2.5", lambda u, v: u.settings.reward == 25 * RPT // 10),
    "proposer.tasks": Row(7, lambda u, v: u.settings.tasks == v),
    "proposer.interval": Row(30.0, lambda u, v: _interval_respected(u.settings, v)),
    "proposer.difficulty": Row(3, lambda u, v: u.settings.difficulty == v),
    "proposer.num_problems": Row(6, lambda u, v: u.settings.num_problems == v),
    "proposer.rollouts_per_problem": Row(5, lambda u, v: u.settings.rollouts_per_problem == v),
    "proposer.max_tokens": Row(33, lambda u, v: u.settings.max_tokens == v),
    "proposer.temperature": Row(0.9, lambda u, v: u.settings.temperature_milli == 900),
    "proposer.join_window": Row(11, lambda u, v: u.settings.join_window == v),
    "proposer.commit_window": Row(22, lambda u, v: u.settings.commit_window == v),
    "proposer.verdict_window": Row(33, lambda u, v: u.settings.verdict_window == v),
    "proposer.verify_window": Row(44, lambda u, v: u.settings.reveal_window == v),
    "proposer.success_low": Row(0.1, lambda u, v: u.settings.success_band[0] == v),
    "proposer.success_high": Row(0.9, lambda u, v: u.settings.success_band[1] == v),
    # [evaluator]
    "evaluator.stake": Row("400", lambda u, v: u.settings.stake == 400 * RPT),
    "evaluator.auto_stake": Row(False, lambda u, v: u.settings.stake == 0),
    # [devnet]
    "devnet.tasks": Row(5, lambda u, v: u.devnet.tasks == v),
    "devnet.honest_miners": Row(3, lambda u, v: u.devnet.honest_miners == v),
    "devnet.cheaters": Row(0, lambda u, v: u.devnet.cheaters == v),
    "devnet.validators": Row(1, lambda u, v: u.devnet.validators == v),
    "devnet.evaluators": Row(2, lambda u, v: u.devnet.evaluators == v),
    "devnet.json": Row(True, lambda u, v: u.devnet.json is True and u.devnet.live is False),
    "devnet.out_dir": Row(lambda t: str(t / "net"), lambda u, v: Path(u.devnet.out_dir) == Path(v)),
    "devnet.timeout": Row(60.0, lambda u, v: u.devnet.timeout == v),
}


def _interval_respected(settings: Any, interval: float) -> bool:
    from node.roles.proposer import post_is_due

    return (
        not post_is_due(settings, 1000, 1000 + interval - 1)
        and post_is_due(settings, 1000, 1000 + interval)
        and post_is_due(settings, None, 0)
    )


SPECS = {o.dotted: o for o in all_options()}
CASES = [
    (command, spec.dotted, source)
    for command, sections in COMMAND_SECTIONS.items()
    for section in sections
    for spec in section_options(section)
    for source in ("flag", "env", "file")
]


def test_every_option_has_a_row() -> None:
    """A new option without a row here (and so without a checked effect) fails."""
    assert set(ROWS) == set(SPECS), {
        "options without a row": sorted(set(SPECS) - set(ROWS)),
        "rows without an option": sorted(set(ROWS) - set(SPECS)),
    }
    used = {dotted for _, dotted, _ in CASES}
    assert used == set(SPECS), f"options that no command takes: {sorted(set(SPECS) - used)}"


def _concrete(value: Any, tmp: Path) -> Any:
    value = value(tmp) if callable(value) else value
    return _free_port() if value == "free" else value


def _flag_args(dotted: str, value: Any) -> list[str]:
    spec = SPECS[dotted]
    if spec.type is bool:
        return [spec.flag if value else f"--no-{spec.flag[2:]}"]
    if spec.type is list:
        return [a for item in value for a in (spec.flag, item)]
    return [spec.flag, str(value)]


def _env_text(dotted: str, value: Any) -> str:
    spec = SPECS[dotted]
    if spec.type is bool:
        return "true" if value else "false"
    if spec.type is list:
        return ",".join(value)
    return str(value)


def _toml(values: dict[str, Any]) -> str:
    by_section: dict[str, list[str]] = {}
    for dotted, value in values.items():
        section, key = dotted.split(".", 1)
        by_section.setdefault(section, []).append(f"{key} = {json.dumps(value)}")
    return "\n".join(f"[{s}]\n" + "\n".join(lines) for s, lines in by_section.items()) + "\n"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Config]:
    """The Config a command hands to its role or devnet: everything before the role itself runs."""
    import prometheus_client

    seen: list[Config] = []
    # A registry of this test's own: a node process registers its collectors once.
    monkeypatch.setattr(prometheus_client, "REGISTRY", prometheus_client.CollectorRegistry())
    monkeypatch.setattr("node.cli.roles.run_role", lambda cfg, role: seen.append(cfg))
    monkeypatch.setattr("node.devnet.run", lambda cfg: seen.append(cfg) or 0)
    for name in [n for n in os.environ if n.startswith("ROLLPROOF_")]:
        monkeypatch.delenv(name)
    return seen


def _set_up(command: str, cfg: Config, tmp: Path, observability: bool) -> Use:
    use = Use(command, cfg, tmp)
    if command == "devnet":
        from node.devnet import options_from_config

        use.devnet = options_from_config(cfg)
        return use
    from node.runtime.settings import settings_from

    use.settings = settings_from(cfg, command)
    if observability:
        use.server = cli.start_observability(cfg, command)
    return use


@pytest.mark.parametrize(("command", "dotted", "source"), CASES)
def test_option_reaches_its_code(
    command: str, dotted: str, source: str, tmp_path: Path, captured: list[Config]
) -> None:
    row = ROWS[dotted]
    spec = SPECS[dotted]
    value = _concrete(row.value, tmp_path)
    assert value != spec.default, f"the row for {dotted} must use a non-default value"
    chosen = {dotted: value, **{k: _concrete(v, tmp_path) for k, v in row.companions.items()}}
    base: dict[str, Any] = {}
    if command != "devnet":  # keep the node's files in tmp and no /metrics unless the row asks
        base = {"node.data_dir": str(tmp_path / "data"), "node.metrics_port": 0}
    args: list[str] = [command]
    env = {"ROLLPROOF_CONFIG": "", "HF_HUB_OFFLINE": "1"}
    for other, other_value in base.items():
        if other not in chosen:
            args += _flag_args(other, other_value)
    if source == "flag":
        for key, v in chosen.items():
            args += _flag_args(key, v)
    elif source == "env":
        env.update({SPECS[key].env_var: _env_text(key, v) for key, v in chosen.items()})
    else:
        path = tmp_path / "rollproof.toml"
        path.write_text(_toml(chosen))
        args += ["--config", str(path)]
    result = CliRunner().invoke(cli.app, args, env=env)
    assert result.exit_code == 0, result.output
    assert len(captured) == 1
    cfg = captured[0]
    assert cfg.sources[dotted].split()[0] == source, cfg.sources[dotted]
    use = _set_up(command, cfg, tmp_path, row.observability)
    try:
        assert row.check(use, value), f"{dotted}={value!r} via {source} did not reach its code ({command})"
    finally:
        if use.server is not None:
            use.server.shutdown()
        if row.observability:
            setup_logging("warning", stream=io.StringIO())
