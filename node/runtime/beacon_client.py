"""The node's drand client, whose trust root is the deployed DrandBeacon contract's key."""

from __future__ import annotations

import httpx

from chain.deploy import Deployment
from node.runtime.errors import RoleError
from verifier.beacon import ChainInfo, DrandClient


def beacon_client(urls: list[str], deployment: Deployment) -> DrandClient:
    """A drand client whose trust root is the beacon key the deployed DrandBeacon contract verifies.

    The relay's /info is fetched once and accepted only if its public key, genesis and period are
    the contract's, so a relay can never introduce its own key.
    """
    if not urls:
        raise RoleError("No beacon URL is configured; pass --beacon-url (a drand HTTP relay).")
    want = deployment.beacon
    problems = []
    for url in urls:
        try:
            reply = httpx.get(url.rstrip("/") + "/info", timeout=5.0)
            reply.raise_for_status()
            info = ChainInfo.from_json(reply.json())
        except (httpx.HTTPError, ValueError) as exc:
            problems.append(f"{url}: {exc}")
            continue
        if (info.public_key, info.genesis_time, info.period) != (want.public_key, want.genesis, want.period):
            problems.append(f"{url}: serves another beacon chain than the deployed DrandBeacon")
            continue
        return DrandClient(urls, info=info, retries=2, backoff=0.2)
    raise RoleError("No beacon relay could be used: " + "; ".join(problems) + ".")
