"""Node configuration: one TOML file per node, every option also a CLI flag and an environment variable.

Precedence, highest first: command-line flag > environment variable (ROLLPROOF_<NAME>) > the TOML
file > the built-in default. Each option has one flat NAME: general options use their key
(`rpc_url` -> `--rpc-url`, ROLLPROOF_RPC_URL, `[chain] rpc_url`); role options are prefixed by
the role in the environment (`[miner] stake` -> `rollproof miner --stake`, ROLLPROOF_MINER_STAKE).

Relative paths in the file are relative to the file's directory; relative paths from flags and
environment variables are relative to the working directory. Unknown keys and bad values are
reported as sentences that name the option and say what is accepted.

Over 400 lines for a reason: the option table (one field per option, with its default, help and
checks) is the single source of `--help`, the TOML template, the environment names, the roles'
settings (`node.runtime.settings`) and the devnet's defaults; splitting it from the layering that
reads it would scatter one table over several files.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

CONFIG_ENV = "ROLLPROOF_CONFIG"
HOME_ENV = "ROLLPROOF_HOME"  # fallback for data_dir, shared with chain.deploy
ENV_PREFIX = "ROLLPROOF_"
DEFAULT_CONFIG_NAME = "rollproof.toml"
MAX_CONFIG_BYTES = 1024 * 1024


class UserError(Exception):
    """A problem the user can fix; the CLI prints its message (a sentence) and exits non-zero."""


class ConfigError(UserError):
    """The configuration is wrong: unknown key, bad value, missing file."""


# ---- value checks ----------------------------------------------------------------------------


def check_url(value: str) -> str | None:
    if not re.match(r"^(https?|wss?)://[^\s/]+", value):
        return "must be an http(s):// or ws(s):// URL, e.g. http://127.0.0.1:8545"
    return None


def check_multiaddr(value: str) -> str | None:
    if not re.match(r"^(/[A-Za-z0-9_.-]+/[^/\s]+)+$", value):
        return "must be a multiaddr such as /ip4/127.0.0.1/tcp/4001"
    return None


def check_rpt_amount(value: str) -> str | None:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return "must be a token amount in RPT, such as 100 or 0.5"
    if amount < 0 or amount != amount.quantize(Decimal(1) / 10**18):
        return "must be a non-negative RPT amount with at most 18 decimals"
    return None


def rpt_to_units(value: str) -> int:
    """RPT amount text (e.g. "1.5") to base units (18 decimals)."""
    return int(Decimal(value) * 10**18)


def check_store_url(value: str) -> str | None:
    if value and not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
        return "must be empty (SQLite under data_dir) or a sqlite:/// or postgresql:// URL"
    return None


def opt(
    default: Any,
    help: str,
    *,
    name: str | None = None,
    path: bool = False,
    choices: tuple[str, ...] | None = None,
    min: float | None = None,
    max: float | None = None,
    check: Callable[[str], str | None] | None = None,
) -> Any:
    """A config option: its default, help, and how to validate it. `name` overrides the flat name."""
    meta = {
        "help": help,
        "name": name,
        "path": path,
        "choices": choices,
        "min": min,
        "max": max,
        "check": check,
    }
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


# ---- sections ----------------------------------------------------------------------------------


@dataclass
class NodeSection:
    data_dir: str = opt(
        "~/.rollproof",
        "Directory for this node's store, adapters and logs (else $ROLLPROOF_HOME).",
        path=True,
    )
    store_url: str = opt(
        "",
        "Database URL of the node store; empty means SQLite at <data_dir>/node.db. PostgreSQL: "
        "postgresql+psycopg://user:pass@host/db.",
        check=check_store_url,
    )
    log_level: str = opt("info", "Log level.", choices=("debug", "info", "warning", "error"))
    log_json: bool = opt(False, "Write logs as JSON lines (one object per line) instead of rich text.")
    log_file: str = opt("", "Also append JSON-lines logs to this file (empty: no file).", path=True)
    metrics_host: str = opt("127.0.0.1", "Address the Prometheus /metrics server listens on.")
    metrics_port: int = opt(9400, "Port of the Prometheus /metrics server; 0 turns it off.", min=0, max=65535)
    exit_when_idle: float = opt(
        0.0, "Stop when nothing happened for this many seconds (0: never; for scripted runs).", min=0
    )


@dataclass
class ChainSection:
    rpc_url: str = opt(
        "http://127.0.0.1:8545", "JSON-RPC URL of the EVM chain (Anvil, testnet, L2).", check=check_url
    )
    deployment: str = opt(
        "",
        "Deployment file written by `rollproof deploy` (contract addresses); empty means "
        "<data_dir>/deployment.json, where `rollproof deploy` writes by default.",
        path=True,
    )
    keystore: str = opt(
        "", "Ethereum V3 keystore of this node's account (create one with `rollproof keys new`).", path=True
    )
    passphrase_file: str = opt(
        "",
        "File holding the keystore passphrase; if empty, ROLLPROOF_PASSPHRASE is used, else you are prompted.",
        path=True,
    )
    confirmations: int = opt(0, "Blocks to wait before acting on an event (reorg safety).", min=0, max=1000)
    poll_interval: float = opt(1.0, "Seconds between polls for new blocks and events.", min=0.05, max=600)


@dataclass
class P2PSection:
    listen: str = opt(
        "/ip4/0.0.0.0/tcp/4001", "libp2p listen multiaddr (all interfaces by default).", check=check_multiaddr
    )
    bootstrap: list[str] = opt(
        [],
        "Multiaddrs (with /p2p/<peer id>) of peers to dial at start, besides the deployment file's.",
        check=check_multiaddr,
    )
    announce: list[str] = opt(
        [],
        "Multiaddrs other hosts should dial to reach this node (e.g. /ip4/<public IP>/tcp/4001); "
        "default: the listen address on each interface.",
        check=check_multiaddr,
    )
    identity_key: str = opt(
        "", "libp2p identity key file; empty means <keystore>.p2p.key beside the keystore.", path=True
    )
    eclipse_protection: bool = opt(
        True,
        "GossipSub eclipse protection: keep mesh peers from several IP addresses, so one host cannot "
        "surround this node. Needs peers on at least 3 distinct IPs; only a devnet on 127.0.0.1 turns it off.",
    )
    stake_cache_seconds: float = opt(
        30.0,
        "How long a peer's stake lookup is cached before gossip from it is checked against the chain again.",
        min=0,
        max=3600,
    )
    relay_hop: bool = opt(
        False,
        "Circuit relay v2: relay connections for nodes that cannot be dialled (a reachable node only).",
    )
    relay_via: list[str] = opt(
        [],
        "Circuit relay v2: relays (full multiaddrs with /p2p/<peer id>) to reserve a slot on, for a node "
        "others cannot dial; it is then reachable at <relay addr>/p2p-circuit/p2p/<its peer id>.",
        check=check_multiaddr,
    )
    relay_client: bool = opt(
        True,
        "Circuit relay v2: dial /p2p-circuit addresses, so a peer reachable only through a relay (its signed "
        "address record names the relay) can be reached, e.g. a miner a validator audits.",
    )


@dataclass
class BeaconSection:
    urls: list[str] = opt(
        [],
        "drand HTTP endpoints (relays or the devnet beacon) to fetch beacons from; each is BLS-verified "
        "against the deployment's beacon key.",
        name="beacon_url",
        check=check_url,
    )


@dataclass
class ModelSection:
    model: str = opt(
        "smollm2",
        "Base model: 'smollm2' (SmolLM2-135M-Instruct, shipped), 'tiny' (tests), a local model "
        "directory, or a Hugging Face id already downloaded.",
    )
    threads: int = opt(1, "torch CPU threads.", min=1, max=256)


@dataclass
class MinerSection:
    stake: str = opt(
        "100", "RPT to have staked as a miner; staked automatically if --auto-stake.", check=check_rpt_amount
    )
    auto_stake: bool = opt(True, "Stake the missing amount at start (otherwise exit if under-staked).")
    train: bool = opt(True, "Train the adapter with SAPO (GRPO on local + swarm rollouts) between tasks.")
    local_rollouts: int = opt(16, "I: own rollouts per training step.", min=0, max=100_000)
    swarm_rollouts: int = opt(16, "J: swarm rollouts per training step.", min=0, max=100_000)
    learning_rate: float = opt(2e-4, "LoRA learning rate (AdamW) of the training step.", min=0, max=1)
    lora_rank: int = opt(4, "LoRA rank of the adapter.", min=1, max=256)
    batch_size: int = opt(8, "Rollouts decoded together in one generation batch.", min=1, max=1024)
    adapter_dir: str = opt("", "Where adapters are written; empty means <data_dir>/adapters.", path=True)
    tensorboard_dir: str = opt("", "TensorBoard scalars dir; empty means <data_dir>/tensorboard.", path=True)
    max_tasks: int = opt(0, "Stop after this many tasks (0: run until stopped).", min=0)
    cheat_model: str = opt(
        "",
        "Testing only: generate with this cheaper model and fill in logprobs by prefill with the real "
        "one. Validators must catch and slash this miner.",
    )


@dataclass
class ValidatorSection:
    stake: str = opt("100", "RPT to have staked as a validator.", check=check_rpt_amount)
    auto_stake: bool = opt(True, "Stake the missing amount at start (otherwise exit if under-staked).")
    batch_size: int = opt(8, "Rollouts per verification prefill batch.", min=1, max=1024)
    finalize: bool = opt(
        True,
        "Call finalize after the verify deadline (permissionless); with --no-finalize the validator "
        "waits for someone else to finalize before it records the outcome.",
    )
    max_tasks: int = opt(0, "Stop after this many tasks (0: run until stopped).", min=0)


@dataclass
class ProposerSection:
    env: str = opt(
        "basic_arithmetic",
        "Environment of the posted tasks (reasoning-gym: e.g. basic_arithmetic, chain_sum, gsm_symbolic).",
    )
    reward: str = opt("10", "RPT escrowed per task.", check=check_rpt_amount)
    tasks: int = opt(0, "Tasks to post (0: keep posting until stopped).", min=0)
    interval: float = opt(
        0.0,
        "Least seconds from posting one task to posting the next (tasks run one at a time, so the next "
        "also waits until the previous one is settled).",
        min=0,
    )
    difficulty: int = opt(
        1, "Starting difficulty; adapted to keep the success rate in the band.", min=0, max=2**31
    )
    num_problems: int = opt(4, "P: problems per task.", min=1, max=4096)
    rollouts_per_problem: int = opt(4, "G: rollouts per problem.", min=1, max=1024)
    max_tokens: int = opt(
        64, "Maximum new tokens per rollout (at most 16384: TaskBoard.MAX_TOKENS).", min=1, max=16384
    )
    temperature: float = opt(0.7, "Sampling temperature T (> 0).", min=0.001, max=10)
    join_window: int = opt(30, "Seconds from posting to the join deadline.", min=1)
    commit_window: int = opt(120, "Seconds from the join deadline to the commit deadline.", min=1)
    verdict_window: int = opt(60, "Seconds from the commit deadline to the verdict deadline.", min=1)
    verify_window: int = opt(30, "Seconds from the verdict deadline to the verify (reveal) deadline.", min=1)
    # The band where groups of G = 4 most often split right/wrong (docs/LEARNING.md §7, bench/sapo_signal.py):
    # SmolLM2 cells at mean reward 0.49-0.60 split 38-59 % of groups, cells at 0.09-0.22 split 0-19 %.
    success_low: float = opt(
        0.3, "Lower the difficulty when the swarm success rate is below this.", min=0, max=1
    )
    success_high: float = opt(
        0.7, "Raise difficulty when the swarm success rate is above this.", min=0, max=1
    )


@dataclass
class EvaluatorSection:
    stake: str = opt("100", "RPT to have staked as an evaluator.", check=check_rpt_amount)
    auto_stake: bool = opt(True, "Stake the missing amount at start (otherwise exit if under-staked).")


@dataclass
class DevnetSection:
    tasks: int = opt(3, "Tasks to run through settlement.", min=1, max=1000)
    honest_miners: int = opt(2, "Honest miners.", min=0, max=32)
    cheaters: int = opt(
        1, "Cheating miners (generate with a cheaper model, prefill logprobs).", min=0, max=32
    )
    validators: int = opt(2, "Validators.", min=0, max=32)
    evaluators: int = opt(1, "Evaluators.", min=0, max=32)
    json: bool = opt(False, "Print the final summary as JSON (no live view).")
    out_dir: str = opt("runs/devnet", "Where the devnet writes node dirs, logs, summary and plot.", path=True)
    timeout: float = opt(900.0, "Give up (exit non-zero) after this many seconds.", min=1)


GENERAL_SECTIONS: dict[str, type] = {
    "node": NodeSection,
    "chain": ChainSection,
    "p2p": P2PSection,
    "beacon": BeaconSection,
    "model": ModelSection,
}
ROLE_SECTIONS: dict[str, type] = {
    "miner": MinerSection,
    "validator": ValidatorSection,
    "proposer": ProposerSection,
    "evaluator": EvaluatorSection,
    "devnet": DevnetSection,
}
SECTIONS: dict[str, type] = {**GENERAL_SECTIONS, **ROLE_SECTIONS}
# The sections whose options each command takes: only what that command's code reads. The proposer
# gossips nothing, so it has no [p2p] options; the devnet starts its own chain, keys and peers.
_NODE_SECTIONS = ["node", "chain", "p2p", "beacon", "model"]
COMMAND_SECTIONS: dict[str, list[str]] = {
    "miner": [*_NODE_SECTIONS, "miner"],
    "validator": [*_NODE_SECTIONS, "validator"],
    "evaluator": [*_NODE_SECTIONS, "evaluator"],
    "proposer": ["node", "chain", "beacon", "model", "proposer"],
    "devnet": ["model", "devnet"],
}


@dataclass
class Config:
    """The whole node configuration. `sources["section.key"]` says where each value came from."""

    node: NodeSection = field(default_factory=NodeSection)
    chain: ChainSection = field(default_factory=ChainSection)
    p2p: P2PSection = field(default_factory=P2PSection)
    beacon: BeaconSection = field(default_factory=BeaconSection)
    model: ModelSection = field(default_factory=ModelSection)
    miner: MinerSection = field(default_factory=MinerSection)
    validator: ValidatorSection = field(default_factory=ValidatorSection)
    proposer: ProposerSection = field(default_factory=ProposerSection)
    evaluator: EvaluatorSection = field(default_factory=EvaluatorSection)
    devnet: DevnetSection = field(default_factory=DevnetSection)
    config_file: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    # Set by the CLI before a role starts, so the role need not ask again: the decrypted
    # eth-account LocalAccount (None if no keystore was needed) and the node's NodeMetrics.
    account: Any = field(default=None, repr=False, compare=False)
    metrics: Any = field(default=None, repr=False, compare=False)

    @property
    def data_dir(self) -> Path:
        return Path(self.node.data_dir)

    @property
    def store_url(self) -> str:
        """The effective store URL: the configured one, else SQLite under the data dir."""
        if self.node.store_url:
            return self.node.store_url
        return f"sqlite:///{self.data_dir / 'node.db'}"

    @property
    def identity_key(self) -> Path | None:
        """The libp2p identity key file: configured, else beside the keystore (chain.keys convention)."""
        if self.p2p.identity_key:
            return Path(self.p2p.identity_key)
        if self.chain.keystore:
            ks = Path(self.chain.keystore)
            return ks.with_name(ks.stem + ".p2p.key")
        return None

    @property
    def adapter_dir(self) -> Path:
        return Path(self.miner.adapter_dir) if self.miner.adapter_dir else self.data_dir / "adapters"

    @property
    def tensorboard_dir(self) -> Path:
        return (
            Path(self.miner.tensorboard_dir) if self.miner.tensorboard_dir else self.data_dir / "tensorboard"
        )

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dict of every section (TOML-shaped)."""
        return {
            name: {f.name: getattr(getattr(self, name), f.name) for f in fields(cls)}
            for name, cls in SECTIONS.items()
        }


# ---- option descriptors --------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionSpec:
    """One option: where it lives in TOML, its flat name, flag, env var, type and checks."""

    section: str
    key: str
    flag_name: str  # name used for the flag within its command (without dashes)
    env_var: str
    type: type  # str, int, float, bool or list
    default: Any
    help: str
    path: bool
    choices: tuple[str, ...] | None
    min: float | None
    max: float | None
    check: Callable[[str], str | None] | None

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def flag(self) -> str:
        return "--" + self.flag_name.replace("_", "-")


def _base_type(hint: Any) -> type:
    if get_origin(hint) is list:
        return list
    if hint in (str, int, float, bool):
        return hint
    args = [a for a in get_args(hint) if a is not type(None)]
    if len(args) == 1:
        return _base_type(args[0])
    raise TypeError(f"Unsupported config option type {hint!r}.")


def section_options(section: str) -> list[OptionSpec]:
    """The options of one section, in declaration order."""
    cls = SECTIONS[section]
    hints = get_type_hints(cls)
    out = []
    role = section in ROLE_SECTIONS
    for f in fields(cls):
        meta = f.metadata
        flat = meta.get("name") or f.name
        env_name = f"{section}_{flat}" if role else flat
        default = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
        out.append(
            OptionSpec(
                section=section,
                key=f.name,
                flag_name=flat,
                env_var=ENV_PREFIX + env_name.upper(),
                type=_base_type(hints[f.name]),
                default=default,
                help=meta.get("help", ""),
                path=meta.get("path", False),
                choices=meta.get("choices"),
                min=meta.get("min"),
                max=meta.get("max"),
                check=meta.get("check"),
            )
        )
    return out


def all_options() -> list[OptionSpec]:
    return [o for s in SECTIONS for o in section_options(s)]


def option_default(dotted: str) -> Any:
    """The built-in default of "section.key": the one default that --help, `rollproof config init`,
    the roles' settings and the devnet all use."""
    section, key = dotted.split(".", 1)
    for spec in section_options(section):
        if spec.key == key:
            return spec.default
    raise KeyError(dotted)


# ---- parsing and validation ----------------------------------------------------------------------


def _describe_type(t: type) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list of strings",
    }[t]


def parse_env_value(spec: OptionSpec, text: str) -> Any:
    """An environment variable's text as the option's type; ConfigError with a sentence if it is not."""
    where = f"The environment variable {spec.env_var}"
    text = text.strip()
    if spec.type is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{where} is {text!r}; use true or false.")
    if spec.type is int:
        try:
            return int(text, 0)
        except ValueError:
            raise ConfigError(f"{where} is {text!r}, which is not an integer.") from None
    if spec.type is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{where} is {text!r}, which is not a number.") from None
    if spec.type is list:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def coerce_value(spec: OptionSpec, value: Any, where: str) -> Any:
    """Check a TOML or flag value has the option's type (ints are accepted as floats)."""
    t = spec.type
    if spec.check is check_rpt_amount and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # `stake = 100` in TOML means the same as `stake = "100"`
    ok = (
        (t is bool and isinstance(value, bool))
        or (t is int and isinstance(value, int) and not isinstance(value, bool))
        or (t is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (t is str and isinstance(value, str))
        or (t is list and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value))
    )
    if not ok:
        raise ConfigError(f"{where} must be {_describe_type(t)}, not {value!r}.")
    if t is float:
        return float(value)
    if t is list:
        return list(value)
    return value


def validate_value(spec: OptionSpec, value: Any, where: str) -> None:
    """Range, choice and format checks, as sentences naming the option."""
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(f"{where} is {value!r}; choose one of: {', '.join(spec.choices)}.")
    if spec.min is not None and value < spec.min:
        raise ConfigError(f"{where} is {value}, below the minimum {spec.min:g}.")
    if spec.max is not None and value > spec.max:
        raise ConfigError(f"{where} is {value}, above the maximum {spec.max:g}.")
    if spec.check is not None:
        items = value if isinstance(value, list) else [value]
        for item in items:
            problem = spec.check(item) if item != "" else None
            if problem:
                raise ConfigError(f"{where} is {item!r}; it {problem}.")


def _resolve_path(value: str, base: Path) -> str:
    if not value:
        return value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def find_config_file(explicit: str | Path | None, env: Mapping[str, str]) -> Path | None:
    """The config file to read: --config, else $ROLLPROOF_CONFIG, else ./rollproof.toml if it exists."""
    chosen = explicit or env.get(CONFIG_ENV) or None
    if chosen:
        path = Path(chosen).expanduser()
        if path.is_dir():
            raise ConfigError(f"The config file {path} is a directory; give the path of a .toml file.")
        if not path.is_file():
            how = "--config" if explicit else CONFIG_ENV
            raise ConfigError(
                f"The config file {path} (from {how}) does not exist; create one with `rollproof config init {path}`."
            )
        return path
    default = Path.cwd() / DEFAULT_CONFIG_NAME
    return default if default.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(f"Cannot read the config file {path}: {exc.strerror}.") from None
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"The config file {path} is larger than {MAX_CONFIG_BYTES} bytes; is it the right file?"
        )
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"The config file {path} is not valid TOML: {exc}. Fix it or regenerate it with `rollproof config init`."
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"The config file {path} is not UTF-8 text.") from None


def _did_you_mean(key: str, known: set[str]) -> str:
    norm = key.replace("-", "_")
    close = difflib.get_close_matches(norm, sorted(known), n=1, cutoff=0.6)
    close = close or [k for k in sorted(known) if k.startswith(norm) or norm.startswith(k)]
    return f" Did you mean {close[0]!r}?" if close else ""


def _accept_flat_names(data: dict[str, Any], path: Path) -> None:
    """A file key may also be the option's flat name, which the flag and env var use
    (`[beacon] beacon_url` like `--beacon-url`); it is stored under the section key."""
    for section, body in data.items():
        if section not in SECTIONS or not isinstance(body, dict):
            continue
        for spec in section_options(section):
            if spec.flag_name != spec.key and spec.flag_name in body:
                if spec.key in body:
                    raise ConfigError(
                        f"In {path}, [{section}] has both {spec.key!r} and {spec.flag_name!r}; keep one."
                    )
                body[spec.key] = body.pop(spec.flag_name)


def _check_file_keys(data: dict[str, Any], path: Path) -> None:
    _accept_flat_names(data, path)
    for section, body in data.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"The config file {path} has an unknown section [{section}]; valid sections are: "
                f"{', '.join(SECTIONS)}."
            )
        if not isinstance(body, dict):
            raise ConfigError(f"In {path}, {section} must be a [{section}] table, not a value.")
        known = {o.key for o in section_options(section)}
        for key in body:
            if key not in known:
                hint = _did_you_mean(str(key), known)
                raise ConfigError(
                    f"The config file {path} has an unknown key {key!r} in [{section}].{hint} Valid keys: "
                    f"{', '.join(sorted(known))}."
                )


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the Config from defaults, the file, the environment and flag overrides (highest wins).

    `overrides` maps "section.key" to a value from a flag; None means "flag not given".
    """
    env = os.environ if env is None else env
    file_path = find_config_file(path, env)
    data = read_toml(file_path) if file_path else {}
    if file_path:
        _check_file_keys(data, file_path)
    return layer_config(data, file_path, env=env, overrides=overrides)


def layer_config(
    data: Mapping[str, Mapping[str, Any]],
    file_path: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    checks: bool = True,
) -> Config:
    """The one precedence, flag > env > file > default, over TOML-shaped `data` whose keys were
        checked already (`_check_file_keys`); `file_path` names it in messages and anchors its relative
        paths (None: an in-memory settings mapping, relative to the working directory). With `checks`
    off, values are type-checked only, not range- or format-checked (settings a program wrote)."""
    env = {} if env is None else env
    overrides = dict(overrides or {})
    known = {o.dotted for o in all_options()}
    unknown = [k for k in overrides if k not in known]
    if unknown:
        raise ConfigError(f"Unknown option(s) {', '.join(unknown)}.")
    cwd = Path.cwd()
    file_base = file_path.parent if file_path else cwd
    file_name = str(file_path) if file_path else "the settings"
    cfg = Config(config_file=str(file_path.resolve()) if file_path else None)
    for section in SECTIONS:
        target = getattr(cfg, section)
        for spec in section_options(section):
            value, source = spec.default, "default"
            if spec.key in data.get(section, {}):
                where = f"[{section}] {spec.key} in {file_name}"
                value = coerce_value(spec, data[section][spec.key], where)
                source = "file"
                if spec.path and isinstance(value, str):
                    value = _resolve_path(value, file_base)
            if spec.dotted == "node.data_dir" and source == "default" and env.get(HOME_ENV):
                # chain.deploy writes to $ROLLPROOF_HOME/deployment.json by default; agree with it.
                value, source = _resolve_path(env[HOME_ENV], cwd), f"env {HOME_ENV}"
            if spec.env_var in env:
                value = parse_env_value(spec, env[spec.env_var])
                source = f"env {spec.env_var}"
                if spec.path:
                    value = _resolve_path(value, cwd)
            flag_value = overrides.get(spec.dotted)
            if flag_value is not None and not (spec.type is list and len(flag_value) == 0):
                value = coerce_value(spec, flag_value, f"The flag {spec.flag}")
                source = f"flag {spec.flag}"
                if spec.path:
                    value = _resolve_path(value, cwd)
            if source == "default" and spec.path and isinstance(value, str):
                value = _resolve_path(value, cwd)
            where = {
                "default": f"The default of {spec.dotted}",
                "file": f"[{section}] {spec.key} in {file_name}",
            }.get(source, f"The {source.replace('env', 'environment variable', 1)}")
            if checks:
                validate_value(spec, value, where)
            setattr(target, spec.key, value)
            cfg.sources[spec.dotted] = source
    _fill_derived_defaults(cfg)
    if checks:
        _check_cross_field(cfg)
    return cfg


def command_options(command: str) -> dict[str, OptionSpec]:
    """The options of one command by their one flat name (the flag's, without dashes): the names a
    role's settings mapping and `RoleSettings` attributes use."""
    return {
        spec.flag_name: spec for section in COMMAND_SECTIONS[command] for spec in section_options(section)
    }


def config_from_flat(command: str, values: Mapping[str, Any], file_path: Path | None = None) -> Config:
    """A Config from flat option names of `command` (as a devnet settings file holds them), layered
    like a TOML file's values (paths resolved, types checked); every other option keeps its default.
    A program wrote these values, so range and format checks are left to the commands that take
    them from operators (as RoleSettings always did)."""
    by_name = command_options(command)
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise ConfigError(f"Unknown option(s) {', '.join(unknown)} for {command}.")
    data: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        spec = by_name[name]
        data.setdefault(spec.section, {})[spec.key] = str(value) if isinstance(value, os.PathLike) else value
    return layer_config(data, file_path, checks=False)


def _fill_derived_defaults(cfg: Config) -> None:
    """Defaults that depend on other options (kept explicit so every consumer sees the same path)."""
    if not cfg.chain.deployment:
        cfg.chain.deployment = str(cfg.data_dir / "deployment.json")


def _check_cross_field(cfg: Config) -> None:
    p = cfg.proposer
    if p.success_low >= p.success_high:
        raise ConfigError(
            f"proposer.success_low ({p.success_low}) must be below proposer.success_high ({p.success_high})."
        )


# ---- the annotated default file -------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


SECTION_HELP = {
    "node": "This node: where it keeps its data, how it logs, where it serves metrics.",
    "chain": "The chain: RPC, deployment, and this node's account.",
    "p2p": "libp2p networking.",
    "beacon": "Where drand beacons come from (always BLS-verified).",
    "model": "The policy model every role loads (must match the task's base model hash).",
    "miner": "`rollproof miner`: generate rollouts, commit, train.",
    "validator": "`rollproof validator`: audit sampled rollouts, commit and reveal verdicts.",
    "proposer": "`rollproof proposer`: fund and post tasks, adapt difficulty.",
    "evaluator": "`rollproof evaluator`: re-score gossiped rollouts.",
    "devnet": "`rollproof devnet`: a whole local network on this machine.",
}


def default_config_text() -> str:
    """An annotated TOML file holding every option at its default (commented with flag and env var)."""
    lines = [
        "# Rollproof node configuration.",
        "# Precedence: command-line flag > environment variable > this file > built-in default.",
        "# Relative paths are relative to this file's directory. The keystore passphrase is never",
        "# stored here: use passphrase_file, or ROLLPROOF_PASSPHRASE, or answer the prompt.",
        "",
    ]
    for section in SECTIONS:
        lines.append(f"# {SECTION_HELP[section]}")
        lines.append(f"[{section}]")
        for spec in section_options(section):
            lines.append(f"# {spec.help}")
            extra = f" Choices: {', '.join(spec.choices)}." if spec.choices else ""
            lines.append(f"# flag: {spec.flag}   env: {spec.env_var}{extra}")
            lines.append(f"{spec.flag_name} = {_toml_value(spec.default)}")
        lines.append("")
    return "\n".join(lines)


def write_default_config(path: str | Path, *, force: bool = False) -> Path:
    """Write the annotated default file; refuses to overwrite unless `force`."""
    target = Path(path).expanduser()
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists; pass --force to overwrite it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(default_config_text(), encoding="utf-8")
    return target
