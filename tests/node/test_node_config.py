"""Config layering (flag > env > file > default), the annotated default file, and clear errors."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from node.config import (
    ROLE_SECTIONS,
    SECTIONS,
    ConfigError,
    all_options,
    default_config_text,
    load_config,
    rpt_to_units,
    section_options,
    write_default_config,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    cfg_file = write(
        tmp_path / "n.toml",
        '[chain]\nrpc_url = "http://file:1"\nconfirmations = 2\n[node]\nmetrics_port = 9001\nlog_level = "debug"\n',
    )
    env = {"ROLLPROOF_RPC_URL": "http://env:2", "ROLLPROOF_METRICS_PORT": "9002"}
    cfg = load_config(cfg_file, env=env, overrides={"chain.rpc_url": "http://flag:3"})
    assert cfg.chain.rpc_url == "http://flag:3"  # flag beats env and file
    assert cfg.node.metrics_port == 9002  # env beats file
    assert cfg.chain.confirmations == 2  # file beats default
    assert cfg.node.log_level == "debug"
    assert cfg.p2p.listen == "/ip4/0.0.0.0/tcp/4001"  # default: all interfaces
    assert cfg.sources["chain.rpc_url"] == "flag --rpc-url"
    assert cfg.sources["node.metrics_port"] == "env ROLLPROOF_METRICS_PORT"
    assert cfg.sources["chain.confirmations"] == "file"
    assert cfg.sources["p2p.listen"] == "default"


def test_role_options_use_role_prefixed_env_vars(tmp_path: Path) -> None:
    env = {
        "ROLLPROOF_MINER_STAKE": "12.5",
        "ROLLPROOF_VALIDATOR_AUTO_STAKE": "no",
        "ROLLPROOF_BOOTSTRAP": "/ip4/1.2.3.4/tcp/1, /ip4/5.6.7.8/tcp/2",
    }
    cfg = load_config(None, env=env)
    assert cfg.miner.stake == "12.5" and rpt_to_units(cfg.miner.stake) == 12_500_000_000_000_000_000
    assert cfg.validator.auto_stake is False
    assert cfg.evaluator.stake == "100"  # another role's stake is untouched
    assert cfg.p2p.bootstrap == ["/ip4/1.2.3.4/tcp/1", "/ip4/5.6.7.8/tcp/2"]


def test_paths_in_the_file_are_relative_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "etc").mkdir()
    cfg_file = write(
        tmp_path / "etc" / "node.toml", '[node]\ndata_dir = "data"\n[chain]\nkeystore = "keys/k.json"\n'
    )
    monkeypatch.chdir(tmp_path)
    cfg = load_config(cfg_file, env={})
    assert cfg.data_dir == tmp_path / "etc" / "data"
    assert cfg.chain.keystore == str(tmp_path / "etc" / "keys" / "k.json")
    assert cfg.store_url == f"sqlite:///{tmp_path / 'etc' / 'data' / 'node.db'}"
    assert cfg.identity_key == tmp_path / "etc" / "keys" / "k.p2p.key"
    # From the environment, relative to the working directory instead.
    cfg = load_config(cfg_file, env={"ROLLPROOF_DATA_DIR": "elsewhere"})
    assert cfg.data_dir == tmp_path / "elsewhere"


def test_default_file_round_trips_and_documents_every_option(tmp_path: Path) -> None:
    text = default_config_text()
    for spec in all_options():
        assert spec.env_var in text and f"\n{spec.flag_name} = " in text
    path = write_default_config(tmp_path / "rollproof.toml")
    from_file = load_config(path, env={})
    defaults = load_config(None, env={})
    for spec in all_options():
        got = getattr(getattr(from_file, spec.section), spec.key)
        want = getattr(getattr(defaults, spec.section), spec.key)
        if spec.path and isinstance(spec.default, str) and spec.default and not spec.default.startswith("~"):
            want = str((tmp_path / spec.default).resolve())  # relative to the file's directory
        assert got == want, spec.dotted
    assert all(src == "file" for src in from_file.sources.values())
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        write_default_config(path)
    write_default_config(path, force=True)


def test_env_var_names_are_unique_and_flags_unique_per_command() -> None:
    counts = collections.Counter(o.env_var for o in all_options())
    assert [k for k, n in counts.items() if n > 1] == []
    general = [o.flag for s in SECTIONS if s not in ROLE_SECTIONS for o in section_options(s)]
    for role in ROLE_SECTIONS:
        flags = (
            general + [o.flag for o in section_options(role)] + ["--config", "--help", "--json", "--offline"]
        )
        dup = [f for f, n in collections.Counter(flags).items() if n > 1]
        assert dup in ([], ["--json"]), (role, dup)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[chain]\nrpc = 'http://x:1'\n", r"unknown key 'rpc' in \[chain\]\. Did you mean 'rpc_url'\?"),
        ("[chian]\nrpc_url = 'http://x:1'\n", r"unknown section \[chian\]"),
        ("[node]\nmetrics_port = 'high'\n", r"metrics_port in .* must be an integer, not 'high'"),
        ("[node]\nmetrics_port = 70000\n", r"above the maximum 65535"),
        ("[node]\nlog_level = 'loud'\n", r"choose one of: debug, info, warning, error"),
        ("[node]\nlog_json = 1\n", r"must be true or false"),
        ("[chain]\nrpc_url = 'localhost:8545'\n", r"must be an http\(s\):// or ws\(s\):// URL"),
        ("[p2p]\nbootstrap = ['nonsense']\n", r"must be a multiaddr"),
        ("[miner]\nstake = '-5'\n", r"non-negative RPT amount"),
        ("[proposer]\nsuccess_low = 0.9\nsuccess_high = 0.5\n", r"success_low .* must be below"),
        ("chain = 5\n", r"must be a \[chain\] table"),
        ("[chain\n", r"not valid TOML"),
    ],
)
def test_bad_files_are_sentences_naming_the_option(tmp_path: Path, toml: str, message: str) -> None:
    path = write(tmp_path / "bad.toml", toml)
    with pytest.raises(ConfigError, match=message):
        load_config(path, env={})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ROLLPROOF_METRICS_PORT": "abc"}, "ROLLPROOF_METRICS_PORT is 'abc', which is not an integer"),
        ({"ROLLPROOF_LOG_JSON": "maybe"}, "ROLLPROOF_LOG_JSON is 'maybe'; use true or false"),
        ({"ROLLPROOF_TEMPERATURE": "x"}, None),  # not an option name: ignored (role options are prefixed)
        ({"ROLLPROOF_PROPOSER_TEMPERATURE": "0"}, "below the minimum"),
        (
            {"ROLLPROOF_CONFIG": "/nonexistent/x.toml"},
            r"does not exist; create one with `rollproof config init",
        ),
    ],
)
def test_bad_environment_values_are_sentences(env: dict[str, str], message: str | None) -> None:
    if message is None:
        assert load_config(None, env=env).proposer.temperature == 0.7
        return
    with pytest.raises(ConfigError, match=message):
        load_config(None, env=env)


def test_bad_flag_values_and_unknown_overrides() -> None:
    with pytest.raises(ConfigError, match=r"The flag --log-level is 'chatty'; choose one of"):
        load_config(None, env={}, overrides={"node.log_level": "chatty"})
    with pytest.raises(ConfigError, match=r"Unknown option\(s\) model.dtype"):
        load_config(None, env={}, overrides={"model.dtype": "float8"})
    with pytest.raises(ConfigError, match="Unknown option"):
        load_config(None, env={}, overrides={"wizard.level": 3})


def test_a_file_that_is_too_big_or_not_text(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(ConfigError, match="larger than"):
        load_config(big, env={})
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary, env={})


def test_rollproof_home_is_the_data_dir_fallback_shared_with_deploy(tmp_path: Path) -> None:
    cfg = load_config(None, env={"ROLLPROOF_HOME": str(tmp_path / "home")})
    assert cfg.data_dir == tmp_path / "home"
    assert cfg.chain.deployment == str(tmp_path / "home" / "deployment.json")
    cfg = load_config(
        None, env={"ROLLPROOF_HOME": str(tmp_path / "home"), "ROLLPROOF_DATA_DIR": str(tmp_path / "d")}
    )
    assert cfg.data_dir == tmp_path / "d"  # the explicit option wins
    cfg = load_config(
        None, env={"ROLLPROOF_HOME": str(tmp_path / "home"), "ROLLPROOF_DEPLOYMENT": "/x/dep.json"}
    )
    assert cfg.chain.deployment == "/x/dep.json"


def test_config_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, env={})


# ---- one set of defaults: --help and the TOML template (both from the option specs), the roles'
# settings, the P2P layer and the devnet ----------------------------------------------------------


@pytest.mark.parametrize("role", ["miner", "validator", "proposer", "evaluator"])
def test_role_settings_defaults_are_the_config_defaults(tmp_path: Path, role: str) -> None:
    from node.runtime.settings import RoleSettings, settings_from

    via_cli = settings_from(load_config(None, env={}, overrides={"node.data_dir": str(tmp_path)}), role)
    bare = RoleSettings(
        role=role,
        data_dir=via_cli.data_dir,
        rpc_url=via_cli.rpc_url,
        deployment=via_cli.deployment,
        keystore=via_cli.keystore,
    )
    # Resolved by the CLI, not defaults: the amount to stake (from stake + auto_stake) and paths
    # under the data dir that a settings file leaves to the same rule.
    differ = {"stake", "adapter_dir", "tensorboard_dir"}
    cli_values, bare_values = via_cli.to_mapping(), bare.to_mapping()
    assert {k: v for k, v in cli_values.items() if k not in differ} == {
        k: v for k, v in bare_values.items() if k not in differ
    }
    assert via_cli.adapter_path == bare.adapter_path == tmp_path / "adapters"
    assert via_cli.tensorboard_path == bare.tensorboard_path == tmp_path / "tensorboard"


def test_learning_defaults_are_one_set_of_values() -> None:
    from node.roles.learning import learner_config
    from node.runtime.settings import RoleSettings

    cfg = load_config(None, env={})
    assert (cfg.miner.local_rollouts, cfg.miner.swarm_rollouts, cfg.miner.learning_rate) == (16, 16, 2e-4)
    bare = RoleSettings(
        role="miner", data_dir=Path("d"), rpc_url="http://x", deployment=Path("d"), keystore=Path("k")
    )
    assert learner_config(bare, 0.7).learning_rate == cfg.miner.learning_rate
    text = default_config_text()
    assert (
        "local_rollouts = 16\n" in text
        and "swarm_rollouts = 16\n" in text
        and "learning_rate = 0.0002\n" in text
    )


def test_protection_defaults_agree_with_the_p2p_layer() -> None:
    from node.p2p.config import P2PConfig

    cfg = load_config(None, env={})
    assert cfg.p2p.eclipse_protection is True and P2PConfig().eclipse_protection is True
    assert cfg.p2p.stake_cache_seconds == P2PConfig().stake_cache_seconds


def test_listen_default_agrees_with_the_p2p_layer(tmp_path: Path) -> None:
    """One listen default: the option's, which a role's settings read and hand to P2PConfig."""
    from node.p2p.config import P2PConfig
    from node.runtime.network import p2p_config
    from node.runtime.settings import settings_from

    cfg = load_config(None, env={}, overrides={"node.data_dir": str(tmp_path)})
    settings = settings_from(cfg, "miner")
    assert cfg.p2p.listen == settings.listen == P2PConfig().listen_addr
    assert p2p_config(settings).listen_addr == cfg.p2p.listen


def test_audit_parameters_have_one_source() -> None:
    from node.devnet import DevnetOptions
    from node.runtime.settings import RoleSettings
    from verifier.params import ALL_POSITIONS, DEFAULT_AUDIT_ROLLOUTS

    bare = RoleSettings(
        role="validator", data_dir=Path("d"), rpc_url="http://x", deployment=Path("d"), keystore=Path("k")
    )
    assert (bare.audit_count, bare.positions) == (DEFAULT_AUDIT_ROLLOUTS, ALL_POSITIONS)
    assert (DevnetOptions().audit_count, DevnetOptions().positions) == (
        DEFAULT_AUDIT_ROLLOUTS,
        ALL_POSITIONS,
    )


def test_devnet_defaults_are_the_config_defaults_except_its_written_overrides() -> None:
    from node.devnet import DevnetOptions

    cfg = load_config(None, env={})
    o = DevnetOptions()
    d = cfg.devnet
    assert (o.tasks, o.honest_miners, o.cheaters, o.validators, o.evaluators, o.timeout, o.json) == (
        d.tasks,
        d.honest_miners,
        d.cheaters,
        d.validators,
        d.evaluators,
        d.timeout,
        d.json,
    )
    assert (o.model, o.threads, o.train) == (cfg.model.model, cfg.model.threads, cfg.miner.train)
    p = cfg.proposer
    assert (o.env, o.difficulty, o.num_problems, o.rollouts_per_problem) == (
        p.env,
        p.difficulty,
        p.num_problems,
        p.rollouts_per_problem,
    )
    assert o.temperature_milli == round(p.temperature * 1000)
    # The devnet's protection overrides are its own, explicit, and the opposite of the defaults.
    assert o.eclipse_protection is False and cfg.p2p.eclipse_protection is True


def test_one_config_size_limit() -> None:
    import node.config
    import node.runtime.settings

    assert node.runtime.settings.MAX_CONFIG_BYTES is node.config.MAX_CONFIG_BYTES


def test_rpt_amounts_may_be_numbers_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[miner]\nstake = 250\n[proposer]\nreward = 2.5\n")
    cfg = load_config(path, env={})
    assert (cfg.miner.stake, cfg.proposer.reward) == ("250", "2.5")
    assert rpt_to_units(cfg.proposer.reward) == 25 * 10**17
    with pytest.raises(ConfigError, match="non-negative RPT amount"):
        load_config(write(tmp_path / "d.toml", "[miner]\nstake = -1\n"), env={})
