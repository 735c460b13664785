"""bench/sapo_signal.py: the share of groups with a learning signal, per environment and difficulty."""

from __future__ import annotations

import json

import pytest

from bench import sapo_signal


def test_letters_env_on_the_tiny_model_gives_every_group_a_signal(tmp_path, capsys):
    out = tmp_path / "signal"
    rc = sapo_signal.main(
        ["--model", "tiny", "--envs", "devnet_letters,basic_arithmetic", "--difficulties", "0",
         "--problems", "3", "--group-size", "3", "--max-tokens", "5", "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    rows = {r["env"]: r for r in json.loads((out / "signal.json").read_text())["results"]}
    # Letters reward is the share of ASCII letters: random text almost never ties across a group.
    assert rows["devnet_letters"]["signal_share"] == 1.0
    # A random tiny model never answers arithmetic: every reward 0, no group GRPO could use.
    assert rows["basic_arithmetic"]["signal_share"] == 0.0
    assert rows["basic_arithmetic"]["split_share"] == 0.0
    assert "load average" in capsys.readouterr().out


def test_bad_arguments_are_sentences(capsys):
    with pytest.raises(SystemExit):
        sapo_signal.main(["--difficulties", "a,b"])
    assert "integers" in capsys.readouterr().err
