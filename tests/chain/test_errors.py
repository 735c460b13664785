"""Revert data decoded into sentences."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak

from chain.errors import decode_revert, format_rpt


def _data(signature: str, types: list[str], values: list) -> bytes:
    return keccak(text=signature)[:4] + encode(types, values)


def test_insufficient_stake_sentence():
    data = _data("InsufficientStake(uint256,uint256)", ["uint256", "uint256"], [50 * 10**18, 100 * 10**18])
    decoded = decode_revert(data, {"role": 1})
    assert decoded.name == "InsufficientStake"
    assert decoded.message == "stake 50 RPT is below the validator minimum of 100 RPT"


def test_unknown_and_generic_errors():
    assert decode_revert(b"\xde\xad\xbe\xef") is None
    assert decode_revert(b"\x01") is None and decode_revert("0xzz") is None
    assert decode_revert(_data("Error(string)", ["string"], ["plain reason"])).message == "plain reason"
    assert "panicked (code 0x11)" in decode_revert(_data("Panic(uint256)", ["uint256"], [0x11])).message
    # An ABI error without a template still reads as its name and arguments, never hex.
    generic = decode_revert(_data("ERC20InvalidReceiver(address)", ["address"], ["0x" + "00" * 20]))
    assert generic.message == "ERC20InvalidReceiver(receiver=0x0000000000000000000000000000000000000000)"
    # Truncated arguments do not crash the decoder.
    assert (
        decode_revert(keccak(text="InsufficientStake(uint256,uint256)")[:4] + b"\x00" * 5).name
        == "InsufficientStake"
    )


def test_format_rpt():
    assert format_rpt(0) == "0 RPT"
    assert format_rpt(10**18) == "1 RPT"
    assert format_rpt(15 * 10**17) == "1.5 RPT"
    assert format_rpt(1) == "0.000000000000000001 RPT"


def test_every_template_matches_its_abi_arguments():
    """A renamed error argument would silently fall back to the generic form: catch it here."""
    from chain.errors import TEMPLATES, error_index, sentence

    for spec in error_index().values():
        if spec.name not in TEMPLATES:
            continue
        args = {
            name: (1 if not t.startswith(("address", "bytes")) else "0x" + "11" * 20)
            for name, t in spec.inputs
        }
        message = sentence(TEMPLATES[spec.name], args, {})
        assert message and "{" not in message, spec.signature


def test_every_error_our_contracts_declare_has_a_sentence():
    """PROTOCOL.md: chain/errors.py turns every custom error into a sentence (library errors such as
    OpenZeppelin's may fall back to the generic Name(args) form)."""
    import re
    from pathlib import Path

    from chain.errors import TEMPLATES

    src = Path(__file__).resolve().parents[2] / "contracts" / "src"
    declared = {m for f in src.rglob("*.sol") for m in re.findall(r"\berror\s+(\w+)\s*\(", f.read_text())}
    assert len(declared) > 50
    assert sorted(declared - set(TEMPLATES)) == []


def test_the_chain_s_token_cap_is_the_one_nodes_accept(chain):
    """TaskBoard.MAX_TOKENS, the proposer's max_tokens bound and the verifier's network cap agree, so the chain
    takes no task that nobody can run and a proposer cannot configure one."""
    from node.config import ProposerSection
    from verifier.rollout import MAX_SEQUENCE_TOKENS

    assert int(chain.board.view("MAX_TOKENS")) == MAX_SEQUENCE_TOKENS
    assert ProposerSection.__dataclass_fields__["max_tokens"].metadata["max"] == MAX_SEQUENCE_TOKENS
