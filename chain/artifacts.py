"""Contract ABIs and bytecode shipped as package data.

`forge build` writes `out/<File>.sol/<Contract>.json`; `python -m chain.artifacts --export`
copies the parts a node needs (ABI, creation and runtime bytecode) to
`chain/artifacts/<Contract>.json`, so a pip-installed node needs no Foundry. A test compares
these files with a fresh build and fails when they are stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT_DIR = REPO_ROOT / "out"

# The contracts the Python side deploys and talks to (PROTOCOL.md §2).
CONTRACTS: tuple[str, ...] = (
    "RollToken",
    "StakeManager",
    "DrandBeacon",
    "TaskBoard",
    "Settlement",
    "Disputes",
)
MAX_ARTIFACT_BYTES = 8 * 1024 * 1024


class ArtifactError(RuntimeError):
    """An artifact is missing or malformed."""


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # creation code, 0x-prefixed hex
    deployed_bytecode: str  # runtime code, 0x-prefixed hex

    def to_json(self) -> dict[str, Any]:
        return {
            "contractName": self.name,
            "abi": self.abi,
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
        }


def _hex(value: Any) -> str:
    text = value["object"] if isinstance(value, dict) else value
    if not isinstance(text, str):
        raise ArtifactError("bytecode is not a hex string.")
    return text if text.startswith("0x") else "0x" + text


def read_forge_artifact(name: str, out_dir: Path = DEFAULT_OUT_DIR) -> Artifact:
    """The artifact of contract `name` as written by `forge build` into `out_dir`."""
    path = out_dir / f"{name}.sol" / f"{name}.json"
    if not path.exists():
        raise ArtifactError(f"{path} does not exist: run `forge build` first (contract {name}).")
    data = json.loads(path.read_text())
    return Artifact(
        name=name,
        abi=data["abi"],
        bytecode=_hex(data["bytecode"]),
        deployed_bytecode=_hex(data["deployedBytecode"]),
    )


def export_artifacts(
    out_dir: Path = DEFAULT_OUT_DIR, dest: Path = ARTIFACTS_DIR, names: tuple[str, ...] = CONTRACTS
) -> list[str]:
    """Copy every built contract of `names` from `out_dir` to `dest`; returns the names written."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        if not (out_dir / f"{name}.sol" / f"{name}.json").exists():
            continue  # not written yet by the contracts authors; exported once it lands
        artifact = read_forge_artifact(name, out_dir)
        (dest / f"{name}.json").write_text(json.dumps(artifact.to_json(), indent=1, sort_keys=True) + "\n")
        written.append(name)
    return written


@cache
def load_artifact(name: str) -> Artifact:
    """The shipped artifact of contract `name` (from package data)."""
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.exists():
        raise ArtifactError(
            f"no shipped artifact for contract {name}: run `make artifacts` (forge build + export)."
        )
    if path.stat().st_size > MAX_ARTIFACT_BYTES:
        raise ArtifactError(f"artifact {path} is larger than {MAX_ARTIFACT_BYTES} bytes.")
    data = json.loads(path.read_text())
    return Artifact(
        name=data["contractName"],
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
    )


def load_abi(name: str) -> list[dict[str, Any]]:
    return load_artifact(name).abi


def available_artifacts() -> list[str]:
    return sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chain.artifacts", description=__doc__)
    parser.add_argument("--export", action="store_true", help="copy ABIs and bytecode from out/")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, help="forge out directory")
    args = parser.parse_args(argv)
    if not args.export:
        print("shipped artifacts:", ", ".join(available_artifacts()) or "none")
        return 0
    written = export_artifacts(args.out)
    missing = [n for n in CONTRACTS if n not in written]
    print(f"exported {', '.join(written) or 'nothing'} to {ARTIFACTS_DIR}")
    if missing:
        print(f"not built yet: {', '.join(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
