"""`rollproof beacon ...`: verify a drand beacon, fetch verified beacons, run the devnet beacon.

The node CLI mounts `beacon_app` as the `beacon` sub-command. Every failure is one sentence on stderr
and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from chain.beacon_key import DEVNET_SEED, BeaconKeyError, devnet_secret_key, new_secret_key, write_secret_key
from node.devnet.beacon import DEVNET_PERIOD, BeaconServer, DevnetBeacon
from verifier.beacon import (
    QUICKNET,
    QUICKNET_CHAIN_HASH,
    QUICKNET_RELAYS,
    BeaconError,
    BeaconUnavailable,
    ChainInfo,
    DrandClient,
    verify_beacon,
)
from verifier.bls import public_key_of

beacon_app = typer.Typer(
    help="drand beacons: verify one, fetch verified ones, or run a local drand-compatible devnet beacon.",
    no_args_is_help=True,
    add_completion=False,
)

MAX_HEX_ARG = 4096


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _parse_hex(value: str, what: str) -> bytes:
    if len(value) > MAX_HEX_ARG:
        raise _fail(f"The {what} is far too long to be hex of a BLS point.")
    try:
        return bytes.fromhex(value.strip().removeprefix("0x"))
    except ValueError as exc:
        raise _fail(f"The {what} is not valid hex.") from exc


def resolve_chain(chain: str, public_key: str | None = None) -> ChainInfo:
    """'quicknet', 'devnet' (the fixed devnet seed; genesis does not matter for verifying), or a path
    to a drand /info JSON file. `public_key` (hex) overrides the key of the named chain."""
    if chain == "quicknet":
        info = QUICKNET
    elif chain == "devnet":
        info = DevnetBeacon.from_seed(DEVNET_SEED, genesis_time=0).info
    else:
        path = Path(chain)
        if not path.is_file():
            raise _fail(
                f"Unknown chain '{chain}': use quicknet, devnet, or the path of a chain info JSON file."
            )
        try:
            info = ChainInfo.from_json(json.loads(path.read_text()[:65536]))
        except (ValueError, BeaconError) as exc:
            raise _fail(f"The chain info file {path} is not valid: {exc}") from exc
    if public_key is not None:
        try:
            info = ChainInfo(
                public_key=_parse_hex(public_key, "public key"),
                period=info.period,
                genesis_time=info.genesis_time,
                group_hash=info.group_hash,
                scheme_id=info.scheme_id,
                beacon_id=info.beacon_id,
            )
        except BeaconError as exc:
            raise _fail(str(exc)) from exc
    return info


@beacon_app.command("verify")
def verify_command(
    round: Annotated[int, typer.Option("--round", help="drand round number.")],
    signature: Annotated[str, typer.Option("--signature", help="48-byte compressed G1 signature, hex.")],
    chain: Annotated[
        str, typer.Option("--chain", help="quicknet, devnet, or a chain info JSON file.")
    ] = "quicknet",
    public_key: Annotated[
        str | None,
        typer.Option("--public-key", help="Group public key (hex, 96 bytes) instead of the chain's."),
    ] = None,
) -> None:
    """BLS-verify a beacon and print its randomness (sha256 of the signature) as hex."""
    info = resolve_chain(chain, public_key)
    try:
        randomness = verify_beacon(info, round, _parse_hex(signature, "signature"))
    except BeaconError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(randomness.hex())


@beacon_app.command("get")
def get_command(
    relay: Annotated[
        list[str] | None,
        typer.Option("--relay", help="Relay base URL; repeat for several. Default: drand's."),
    ] = None,
    chain_hash: Annotated[
        str, typer.Option("--chain-hash", help="Trusted chain hash.")
    ] = QUICKNET_CHAIN_HASH,
    round: Annotated[int | None, typer.Option("--round", help="Round to fetch; default: the latest.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per HTTP request.")] = 5.0,
) -> None:
    """Fetch a beacon from relays, BLS-verify it, and print it as drand JSON."""
    try:
        with DrandClient(relay or QUICKNET_RELAYS, chain_hash=chain_hash, timeout=timeout) as client:
            beacon = client.get(round) if round is not None else client.latest()
    except (BeaconError, BeaconUnavailable, ValueError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps(beacon.to_json()))


@beacon_app.command("serve")
def serve_command(
    port: Annotated[int, typer.Option("--port", help="TCP port (0 = any free port).")] = 8089,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    period: Annotated[int, typer.Option("--period", help="Seconds between rounds.")] = DEVNET_PERIOD,
    genesis: Annotated[
        int | None, typer.Option("--genesis", help="Unix time of round 1; default: now, rounded down.")
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="Secret key file (see `keygen`); default: the devnet seed."),
    ] = None,
    seed: Annotated[
        str | None, typer.Option("--seed", help="Derive the key from this text (devnets).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Log every request.")] = False,
) -> None:
    """Run a local drand-compatible HTTP beacon (bls-unchained-g1-rfc9380) until interrupted."""
    if key_file is not None and seed is not None:
        raise _fail("Give either --key-file or --seed, not both.")
    if period < 1:
        raise _fail("The period must be at least one second.")
    try:
        secret = devnet_secret_key(seed, key_file)
    except (BeaconKeyError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    start = int(time.time()) if genesis is None else genesis
    beacon = DevnetBeacon(secret_key=secret, genesis_time=start, period=period)
    try:
        server = BeaconServer(beacon, host=host, port=port, verbose=verbose)
    except OSError as exc:
        raise _fail(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from exc
    info = beacon.info
    typer.echo(f"devnet beacon listening on {server.url}")
    typer.echo(f"chain hash   {info.hash}")
    typer.echo(f"public key   {info.public_key.hex()}")
    typer.echo(f"genesis      {info.genesis_time}  period {info.period} s")
    if key_file is None and seed is None:
        typer.echo("warning: using the public DEVNET seed; anyone can forge these beacons.", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@beacon_app.command("keygen")
def keygen_command(
    out: Annotated[Path, typer.Option("--out", help="Where to write the secret key (mode 0600).")],
) -> None:
    """Create a new beacon secret key file and print its public key."""
    if out.exists():
        raise _fail(f"{out} already exists; refusing to overwrite a key.")
    secret = new_secret_key()
    try:
        write_secret_key(out, secret)
    except OSError as exc:
        raise _fail(f"Cannot write {out}: {exc.strerror or exc}.") from exc
    typer.echo(public_key_of(secret).to_compressed_bytes().hex())
