"""Rollproof's libp2p layer: signed, staked, zero-loss gossip and request/response (docs/P2P.md)."""

from .config import P2PConfig
from .discovery import (
    PEERS_PROTOCOL,
    AddressRecord,
    RecordError,
    add_deployment_bootstrap,
    deployment_bootstrap,
    open_address_record,
    seal_address_record,
)
from .host import P2PError, P2PNode, Received, file_keccak
from .identity import canonical_peer_id, load_or_create_identity, peer_id_from_secret
from .reqresp import ADAPTER_PROTOCOL, HISTORY_PROTOCOL, OPENINGS_PROTOCOL, RequestError
from .stakers import StakerIndex
from .validation import SOFT_REASONS, TaskRules
from .wire import (
    EvaluationMsg,
    RolloutMsg,
    WireError,
    evaluations_topic,
    parse_topic,
    rollouts_topic,
    sign_envelope,
)

__all__ = [
    "PEERS_PROTOCOL",
    "SOFT_REASONS",
    "AddressRecord",
    "RecordError",
    "StakerIndex",
    "TaskRules",
    "add_deployment_bootstrap",
    "deployment_bootstrap",
    "open_address_record",
    "seal_address_record",
    "ADAPTER_PROTOCOL",
    "HISTORY_PROTOCOL",
    "OPENINGS_PROTOCOL",
    "EvaluationMsg",
    "P2PConfig",
    "P2PError",
    "P2PNode",
    "Received",
    "RequestError",
    "RolloutMsg",
    "WireError",
    "canonical_peer_id",
    "evaluations_topic",
    "file_keccak",
    "load_or_create_identity",
    "parse_topic",
    "peer_id_from_secret",
    "rollouts_topic",
    "sign_envelope",
]
