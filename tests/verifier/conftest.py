"""Fixtures for the verifier tests: the tiny model with the real SmolLM2 tokenizer, a toy environment."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from verifier_helpers import AlwaysHalfEnv, make_task, other_tokenizers


@pytest.fixture(scope="session")
def tiny():
    from verifier.models import tiny_model

    model, tokenizer = tiny_model(seed=0)
    return model, tokenizer


@pytest.fixture(scope="session")
def tokenizer_variants(tiny):
    """`other_tokenizers` of the tiny model's tokenizer, built (and hashed) once per session."""
    return other_tokenizers(tiny[1])


@pytest.fixture(scope="session")
def env():
    return AlwaysHalfEnv()


@pytest.fixture(scope="session")
def task():
    return make_task()
