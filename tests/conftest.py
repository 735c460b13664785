"""Shared pytest fixtures: a real Anvil, a fresh deployment, funded accounts, time travel.

Generic on purpose: the chain, verifier, p2p and node tests all use them.

- `anvil` (session): one Anvil process on a free port (Prague), killed at the end.
- `accounts`: anvil's ten funded LocalAccounts; accounts[0] deploys and owns the token.
- `devnet_beacon` (session): the devnet drand signer (node.devnet.beacon.DevnetBeacon)
  whose genesis lies before the chain's clock; `devnet_beacon.sign(round).onchain_args()`
  gives what `DrandBeacon.recordBeacon` takes.
- `deploy_params`: short devnet parameters (1 h cooldown, 30 min max task, 5 s minimum audit time,
  the Settlement defaults of PROTOCOL.md §2.5 otherwise).
- `deployment`: a fresh deployment per test (so tests never see each other's state), every
  account funded with TOKENS_PER_ACCOUNT RPT.
- `chain`: the deployer's `Chain`; `chain_for(i)`: the `Chain` of accounts[i].
- `clock`: time travel on the Anvil (`increase_time`, `warp_to`, `timestamp`, `mine`).
- `task_params(**overrides)`: TaskParams with deadlines relative to the chain's clock; tests that run
  a node's roles on the task pass the real `tokenizer_hash=` (the default only names some tokenizer).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from eth_account import Account  # noqa: E402
from eth_account.signers.local import LocalAccount  # noqa: E402

from chain.anvil import Anvil, AnvilConfig  # noqa: E402
from chain.clients import Chain, TaskParams, env_id  # noqa: E402
from chain.deploy import BeaconConfig, Deployment, DeployParams, deploy_all  # noqa: E402
from chain.tx import make_web3  # noqa: E402

RPT = 10**18
TOKENS_PER_ACCOUNT = 10_000 * RPT


# Whole devnets and network-namespace runs take minutes each, start many processes and mostly wait on
# chain windows. Under `pytest -n N --dist loadgroup` (make test) each group below runs in one worker,
# one test after another, so at most one devnet and one namespace run share the cores at a time while
# the other worker takes the short tests. Three heavy groups at once (measured: load 16 on two cores)
# made miners miss the tiny profile's 8 s join window. Without xdist the marks change nothing.
HEAVY_GROUPS = {
    "tests/e2e/": "devnets",
    "tests/netns/": "namespaces",
}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath).replace(os.sep, "/")
        if path.endswith("_units.py"):
            continue
        group = next((g for part, g in HEAVY_GROUPS.items() if part in path), None)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    with Anvil(AnvilConfig()) as node:
        yield node


@pytest.fixture(scope="session")
def accounts(anvil: Anvil) -> list[LocalAccount]:
    return [Account.from_key(k) for k in anvil.private_keys]


@pytest.fixture(scope="session")
def devnet_beacon(anvil: Anvil):
    from node.devnet.beacon import DevnetBeacon

    # Genesis a minute before the chain's clock, on a whole minute, so round numbers stay small.
    genesis = (anvil.timestamp() - 60) // 60 * 60
    return DevnetBeacon.from_seed(genesis_time=genesis)


def beacon_config_of(beacon) -> BeaconConfig:
    """The deployment's BeaconConfig for a devnet beacon (its key, genesis and period)."""
    from chain.beacon_key import devnet_beacon_config

    info = beacon.info
    return devnet_beacon_config(info.public_key, info.genesis_time, info.period)


@pytest.fixture(scope="session")
def beacon_config_for():
    """`beacon_config_for(beacon)`: the BeaconConfig of any devnet beacon a test makes itself."""
    return beacon_config_of


@pytest.fixture(scope="session")
def beacon_config(devnet_beacon) -> BeaconConfig:
    return beacon_config_of(devnet_beacon)


@pytest.fixture
def deploy_params() -> DeployParams:
    return DeployParams(
        min_stake_miner=100 * RPT,
        min_stake_validator=100 * RPT,
        min_stake_evaluator=10 * RPT,
        cooldown=3600,
        max_task_duration=1800,
        min_audit_time=5,
        validator_fee_bps=1_000,
    )


@pytest.fixture
def deployment(
    anvil: Anvil, accounts: list[LocalAccount], beacon_config: BeaconConfig, deploy_params
) -> Deployment:
    w3 = make_web3(anvil.rpc_url)
    deployment = deploy_all(w3, accounts[0], beacon_config, deploy_params)
    owner = Chain(w3, deployment, None).as_account(accounts[0])
    for account in accounts:
        owner.token.mint(account.address, TOKENS_PER_ACCOUNT)
    return deployment


@pytest.fixture
def chain_for(anvil: Anvil, accounts: list[LocalAccount], deployment: Deployment) -> Callable[[int], Chain]:
    cache: dict[int, Chain] = {}

    def make(index: int) -> Chain:
        if index not in cache:
            cache[index] = Chain.connect(anvil.rpc_url, deployment, accounts[index])
        return cache[index]

    return make


@pytest.fixture
def chain(chain_for: Callable[[int], Chain]) -> Chain:
    return chain_for(0)


@pytest.fixture
def clock(anvil: Anvil) -> Anvil:
    """Time travel: clock.increase_time(s), clock.warp_to(t), clock.timestamp(), clock.mine()."""
    return anvil


@pytest.fixture
def task_params(anvil: Anvil) -> Callable[..., TaskParams]:
    """TaskParams with windows of `step` seconds after the chain's current time."""

    def make(step: int = 60, **overrides) -> TaskParams:
        now = anvil.timestamp()
        values = dict(
            env_id=env_id("basic_arithmetic"),
            difficulty=1,
            num_problems=2,
            rollouts_per_problem=2,
            max_tokens=32,
            temperature_milli=700,
            base_model_hash=b"\x11" * 32,
            # Non-zero, as postTask requires (ZeroTokenizerHash); like base_model_hash above, a stand-in:
            # chain tests load no tokenizer.
            tokenizer_hash=b"\x22" * 32,
            reward=100 * RPT,
            join_deadline=now + step,
            commit_deadline=now + 2 * step,
            verdict_deadline=now + 3 * step,
            verify_deadline=now + 4 * step,
        )
        values.update(overrides)
        return TaskParams(**values)

    return make
