"""The dependency rules (tools/check_imports.py, run by `make lint`) hold on the tree, and each one
catches a forbidden import added to a copy of it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECK = REPO / "tools" / "check_imports.py"


def run_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), str(root)], capture_output=True, text=True, timeout=120
    )


def test_the_tree_keeps_the_dependency_rules():
    done = run_check(REPO)
    assert done.returncode == 0, done.stdout
    assert "dependency rules hold" in done.stdout


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for pkg in ("node", "chain", "verifier", "bench"):
        shutil.copytree(REPO / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    return tmp_path


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + "\n" + text + "\n")


@pytest.mark.parametrize(
    ("edits", "rule"),
    [
        ({"verifier/prf.py": "from node.config import Config"}, "rule 1"),
        ({"verifier/commitments.py": "def f():\n    import chain.clients"}, "rule 1"),
        ({"chain/clients.py": "def f():\n    import torch"}, "rule 2"),
        ({"chain/tx.py": "from verifier.models import tiny_model"}, "rule 2"),
        ({"chain/cli.py": "def f():\n    from node.devnet.beacon import DevnetBeacon"}, "rule 2"),
        ({"chain/deploy.py": "import node.model"}, "rule 2"),
        ({"node/roles/miner.py": "def f():\n    from node.roles.validator import Validator"}, "rule 3"),
        ({"node/roles/proposer.py": "from node.roles import evaluator"}, "rule 3"),
        (
            {"verifier/prf.py": "import verifier.sampler", "verifier/sampler.py": "import verifier.prf"},
            "rule 4",
        ),
        ({"node/ops/common.py": "def f():\n    from node.cli import app"}, "rule 5"),
        ({"node/runtime/loop.py": "def f():\n    import node.tasks.view"}, "rule 5"),
    ],
)
def test_a_forbidden_import_is_caught(tree: Path, edits: dict[str, str], rule: str):
    for rel, text in edits.items():
        append(tree / rel, text)
    done = run_check(tree)
    assert done.returncode == 1, done.stdout
    assert rule in done.stdout and "dependency rule(s) broken" in done.stdout
