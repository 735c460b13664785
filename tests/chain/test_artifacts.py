"""The shipped ABIs and bytecode must equal a fresh `forge build` of contracts/src."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from chain.artifacts import CONTRACTS, REPO_ROOT, available_artifacts, load_artifact, read_forge_artifact

FORGE = REPO_ROOT / "node_modules" / ".bin" / "forge"

# One worker runs these under xdist: two `forge build`s in the same out/ would race.
pytestmark = pytest.mark.xdist_group("forge")


@pytest.fixture(scope="module")
def fresh_out() -> Path:
    if not FORGE.exists():
        pytest.skip("forge is not installed (run `make install`)")
    # The same incremental build as `make artifacts` (a private out dir would recompile every
    # contract with solcjs, over a minute on two cores).
    result = subprocess.run([str(FORGE), "build"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"forge build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return REPO_ROOT / "out"


def test_every_contract_is_shipped():
    assert set(CONTRACTS) <= set(available_artifacts()), "run `make artifacts`"


@pytest.mark.parametrize("name", CONTRACTS)
def test_artifact_is_fresh(fresh_out: Path, name: str):
    built = read_forge_artifact(name, fresh_out)
    shipped = load_artifact(name)
    assert shipped.abi == built.abi, f"{name} ABI is stale: run `make artifacts`"
    assert shipped.bytecode == built.bytecode, f"{name} bytecode is stale: run `make artifacts`"
    assert shipped.deployed_bytecode == built.deployed_bytecode, (
        f"{name} runtime code is stale: run `make artifacts`"
    )
