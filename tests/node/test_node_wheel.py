"""The wheel carries what a node needs at run time: the store migrations and the contract artifacts.

Built from this checkout without network (no build isolation, no dependencies), then imported
from the unpacked wheel alone, far from the source tree: the store opens and migrates.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_the_migrations_and_a_store_opens_from_it(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = out.glob("rollproof-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "node/store/migrations/env.py" in names
    assert "node/store/migrations/script.py.mako" in names
    assert any(n.startswith("node/store/migrations/versions/0001_") for n in names)
    assert any(n.startswith("chain/artifacts/") and n.endswith(".json") for n in names)
    assert "node/ops/doctor.py" in names
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import node.store.store as s;"
        "assert s.__file__.startswith(sys.argv[1]), s.__file__;"
        "st = s.open_store('sqlite:///' + sys.argv[2]);"
        "print(sorted(st.engine.dialect.get_table_names(st.engine.connect()))[:3]); st.close()"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe, str(unpacked), str(tmp_path / "node.db")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # far from the checkout: nothing found by accident in the working directory
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "adapters" in run.stdout
