"""One role's settings: a view of the node configuration (`node.config.Config`), not a copy of it.

The CLI hands its parsed Config to the role, which reads it through `RoleSettings`; the devnet and
the tests write the same options by their one flat name (the flag's, `rpc_url`, `stake`, `listen`)
into a settings file (`python -m node.roles <role> --config FILE`), which is layered into a Config
by `node.config.config_from_flat` like a TOML file. Either way the role reads one typed tree.

Attribute names are the options' flat names, read from the tree. A few attributes are the value in
the unit the code needs rather than the option's text: `stake` and `reward` in base units (`stake`
is 0 when `auto_stake` is off: never stake), `temperature_milli`, `reveal_window` (the proposer's
`verify_window`), `success_band`, `cheat`/`cheap_model` (from `cheat_model`), paths as `Path`.
Knobs that are no options (devnet and tests only: deviating validators, crash points) are
`RoleKnobs`, set by the same flat names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from chain.keys import identity_path_for
from node.config import (
    MAX_CONFIG_BYTES,
    Config,
    ConfigError,
    command_options,
    config_from_flat,
    read_toml,
    rpt_to_units,
)
from node.runtime.errors import RoleError
from verifier.params import ALL_POSITIONS, DEFAULT_AUDIT_ROLLOUTS

ROLE_NAMES = ("proposer", "miner", "evaluator", "validator")
MISBEHAVIOURS = ("", "lazy", "always-fail")


@dataclass
class RoleKnobs:
    """Settings that are no options: only the devnet's settings files and tests set them."""

    crash_after: str = ""  # tests only: SIGKILL this process right after entering this task state
    misbehave: str = ""  # devnet only: "lazy" (pass all unaudited) or "always-fail" (fail all)
    use_gossip: bool = True  # validator: take audited rollouts from gossip when complete
    # What a proposer posts as the task's auditRollouts (m) and auditPositions (k, 0 = every
    # position); every other role reads them from the task (verifier.params holds the defaults).
    audit_count: int = DEFAULT_AUDIT_ROLLOUTS
    positions: int = ALL_POSITIONS
    min_miners: int = 0  # proposer: wait for this many staked miners with a peer before the first post
    max_difficulty: int = 5


KNOB_NAMES = frozenset(f.name for f in fields(RoleKnobs))


class RoleSettings:
    """A role's view of one Config (see the module docstring). `standalone` is True for settings
    from a file or mapping (the process sets up its own logging and /metrics) and False for the
    CLI's Config (the CLI did that already)."""

    def __init__(
        self, role: str, config: Config | None = None, knobs: RoleKnobs | None = None, **values: Any
    ):
        if role not in ROLE_NAMES:
            raise RoleError(f"Unknown role {role!r}; use one of {', '.join(ROLE_NAMES)}.")
        options = command_options(role)
        unknown = sorted(set(values) - set(options) - KNOB_NAMES)
        if unknown:
            valid = sorted({*options, *KNOB_NAMES})
            raise RoleError(f"Unknown setting(s) {', '.join(unknown)}; valid ones are: {', '.join(valid)}.")
        if config is not None and values:
            raise RoleError("Give the settings either as a Config or as values, not both.")
        knob_values = {k: v for k, v in values.items() if k in KNOB_NAMES}
        self.knobs = knobs or RoleKnobs(**knob_values)
        if self.knobs.misbehave not in MISBEHAVIOURS:
            raise RoleError(
                f"Unknown misbehave {self.knobs.misbehave!r}; use lazy or always-fail (devnet only)."
            )
        self.role = role
        self.standalone = config is None
        if config is None:
            try:
                config = config_from_flat(role, {k: v for k, v in values.items() if k in options})
            except ConfigError as exc:
                raise RoleError(str(exc)) from None
        self.config = config

    # ---- reading the tree ----------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("config", "knobs", "role", "standalone"):
            raise AttributeError(name)
        if name in KNOB_NAMES:
            return getattr(self.knobs, name)
        spec = command_options(self.role).get(name)
        if spec is None:
            raise AttributeError(f"{self.role} has no setting {name!r}")
        return getattr(getattr(self.config, spec.section), spec.key)

    def _section(self) -> Any:
        return getattr(self.config, self.role)

    @property
    def data_dir(self) -> Path:
        return Path(self.config.node.data_dir).expanduser()

    @property
    def deployment(self) -> Path:
        return Path(self.config.chain.deployment).expanduser()

    @property
    def keystore(self) -> Path:
        return Path(self.config.chain.keystore or self.data_dir / "keystore.json").expanduser()

    @property
    def passphrase_file(self) -> Path | None:
        return _path_or_none(self.config.chain.passphrase_file)

    @property
    def identity_key(self) -> Path | None:
        return _path_or_none(self.config.p2p.identity_key)

    @property
    def log_file(self) -> Path | None:
        return _path_or_none(self.config.node.log_file)

    @property
    def store_url(self) -> str | None:
        return self.config.node.store_url or None

    @property
    def beacon_urls(self) -> list[str]:
        return list(self.config.beacon.urls)

    @property
    def stake(self) -> int:
        """Base units to stake up to when under it; 0: never stake (no `auto_stake`, or a proposer)."""
        section = self._section()
        if not hasattr(section, "stake") or not section.auto_stake:
            return 0
        return rpt_to_units(section.stake)

    @property
    def max_tasks(self) -> int:
        return int(getattr(self._section(), "max_tasks", 0))

    @property
    def cheat(self) -> bool:
        return bool(getattr(self._section(), "cheat_model", ""))

    @property
    def cheap_model(self) -> str:
        return str(getattr(self._section(), "cheat_model", ""))

    @property
    def reward(self) -> int:
        return rpt_to_units(self.config.proposer.reward)

    @property
    def temperature_milli(self) -> int:
        return round(self.config.proposer.temperature * 1000)

    @property
    def reveal_window(self) -> int:
        return self.config.proposer.verify_window

    @property
    def success_band(self) -> tuple[float, float]:
        return (self.config.proposer.success_low, self.config.proposer.success_high)

    @property
    def adapter_path(self) -> Path:
        """Where this node writes and keeps adapters."""
        return self.config.adapter_dir

    @property
    def tensorboard_path(self) -> Path:
        return self.config.tensorboard_dir

    @property
    def identity_path(self) -> Path:
        """The libp2p identity key file: configured, else beside the keystore (chain.keys convention)."""
        return self.identity_key or identity_path_for(self.keystore)

    # ---- the flat form (settings files) ---------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> RoleSettings:
        values = dict(data)
        role = values.pop("role", None)
        if role is None:
            raise RoleError("The settings name no role; add role = miner, validator, proposer or evaluator.")
        return cls(str(role), **values)

    @classmethod
    def load(cls, path: Path) -> RoleSettings:
        """Read settings from a .json or .toml file (flat option names, as `to_mapping` writes)."""
        if not path.is_file():
            raise RoleError(f"The config file {path} does not exist.")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise RoleError(f"The config file {path} is larger than {MAX_CONFIG_BYTES} bytes.")
        try:
            data = json.loads(path.read_text()) if path.suffix == ".json" else read_toml(path)
        except (ValueError, ConfigError) as exc:
            raise RoleError(f"The config file {path} cannot be parsed: {exc}.") from None
        return cls.from_mapping(data)

    def to_mapping(self) -> dict[str, Any]:
        """The flat form: every option of the role by its flat name (paths as text) and the knobs."""
        out: dict[str, Any] = {"role": self.role}
        for name, spec in command_options(self.role).items():
            out[name] = getattr(getattr(self.config, spec.section), spec.key)
        out["keystore"] = str(self.keystore)  # the effective keystore (<data_dir>/keystore.json)
        out.update(asdict(self.knobs))
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RoleSettings) and self.to_mapping() == other.to_mapping()

    def __repr__(self) -> str:
        return f"RoleSettings({self.to_mapping()!r})"


def _path_or_none(value: str) -> Path | None:
    return Path(value).expanduser() if value else None


def settings_from(config: Any, role: str) -> RoleSettings:
    """RoleSettings from RoleSettings, a mapping, a settings file path, or the CLI's `node.config.Config`."""
    if isinstance(config, RoleSettings):
        return config
    if isinstance(config, str | Path):
        return RoleSettings.load(Path(config))
    if isinstance(config, dict):
        return RoleSettings.from_mapping({"role": role, **config})
    if isinstance(config, Config):
        return RoleSettings(role, config)
    raise RoleError(f"Cannot read the {role} settings from a {type(config).__name__}.")
