"""The node roles: proposer, miner, evaluator, validator. Each module exposes `run(config) -> int`."""

from node.runtime.errors import RoleError
from node.runtime.settings import ROLE_NAMES, RoleSettings

__all__ = ["ROLE_NAMES", "RoleError", "RoleSettings", "run_role"]


def run_role(role: str, config: object) -> int:
    """Run one role (by name) with a RoleSettings, a settings file path, or a node.config.Config."""
    import importlib

    if role not in ROLE_NAMES:
        raise RoleError(f"Unknown role {role!r}; use one of {', '.join(ROLE_NAMES)}.")
    return importlib.import_module(f"node.roles.{role}").run(config)
