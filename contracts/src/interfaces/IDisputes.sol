// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ISettlement} from "./ISettlement.sol";

/// @title IDisputes
/// @notice Disputes (PROTOCOL.md 2.10): fraud proofs for what the chain can check in a committed leaf, and model
/// checks by a second, larger committee: a miner the FAIL votes (each naming its evidence: rolloutIndex,
/// position, check) FAILED or left UNDECIDED disputes with a deposit; 2C lots drawn by a beacon round after the
/// dispute deadline from all validator stake but the task's miners' re-audit exactly that evidence and rule by
/// commit-reveal with bonds; the losing side is slashed.
interface IDisputes {
    /// @notice A dispute's state: OPEN from dispute() until resolve(); then UPHELD (the miner is FAILED and the
    /// deposit joins the slash), OVERTURNED (the miner is PASSED, the first committee's FAIL voters lose their bonds, the
    /// deposit less the jurors' fee is returned) or UNRESOLVED (no quorum or no supermajority: the miner is
    /// UNDECIDED, neither slashed nor paid, and the whole deposit is returned).
    enum Ruling {
        NONE,
        OPEN,
        UPHELD,
        OVERTURNED,
        UNRESOLVED
    }

    /// @notice Deploy-time parameters (checked in the constructor).
    struct Params {
        uint64 disputeWindow; // seconds after verifyDeadline in which a FAILED miner may dispute
        uint64 commitWindow; // seconds after the dispute deadline for jurors to commit (covers the beacon round)
        uint64 revealWindow; // seconds after the commit deadline for jurors to reveal
        uint16 jurorFeeBps; // part of the deposit paid to the winning jurors when the committee rules
    }

    /// @notice One disputed miner of one task.
    struct Dispute {
        Ruling ruling;
        uint32 jurors; // jurors that committed
        uint32 revealedSeats;
        uint32 upholdSeats;
        uint32 overturnSeats;
        uint32 modeSeats; // seats behind the most named score among the overturn votes
        uint64 modeScore; // that score: what an OVERTURNED miner is paid on
        uint256 deposit; // the miner's deposit (its task lock)
        uint256 feePerSeat; // paid to each winning seat, set by resolve
    }

    /// @notice One second-committee member (juror) of one dispute.
    struct Juror {
        bytes32 commitHash;
        uint16 seats;
        bool revealed;
        bool overturn; // the revealed ruling: true = the FAIL is wrong
        bool settled;
        bool penalized;
        uint64 score; // the score an overturn vote names
        uint256 bond; // validatorBond x seats, paid in at commitRuling
    }

    /// @notice A task's dispute timeline, from its verify deadline and the deploy parameters.
    struct Windows {
        uint64 verifyDeadline; // the task's: disputes open after it; the jury's stakes are read at it
        uint64 disputeDeadline; // verifyDeadline + disputeWindow: last second to dispute
        uint64 round; // the beacon round that draws every juror of the task: the first after disputeDeadline
        uint64 commitDeadline; // disputeDeadline + commitWindow
        uint64 revealDeadline; // commitDeadline + revealWindow; resolve() from the next second
    }

    /// @notice Task `taskId` is not OPEN on the TaskBoard.
    error TaskNotOpen(uint256 taskId);
    /// @notice The call is allowed from `start` (exclusive) to `end` (inclusive); it is `nowTime`.
    error OutsideWindow(uint64 nowTime, uint64 start, uint64 end);
    /// @notice `miner` did not commit to the task.
    error MinerNotCommitted(address miner);
    /// @notice The Merkle proof does not open `miner`'s committed root with the given leaf.
    error InvalidLeafProof(address miner);
    /// @notice The opened leaf is consistent with the task: nothing the chain can check contradicts it.
    error NotFraud();
    /// @notice A fraud proof against `miner` was already accepted.
    error FraudAlreadyProven(address miner);
    /// @notice `miner` is not contested by the votes: no quorum, no FAIL vote, a PASS supermajority, or forced.
    error NotFailed(address miner);
    /// @notice `miner` was failed by a fraud proof: the chain checked the evidence; there is no model check to
    /// re-audit.
    error NoModelEvidence(address miner);
    /// @notice `miner` already disputed this task.
    error AlreadyDisputed(address miner);
    /// @notice `miner` has no open dispute in this task.
    error NoDispute(address miner);
    /// @notice The dispute of `miner` is already resolved.
    error AlreadyResolved(address miner);
    /// @notice The dispute of `miner` is not resolved yet.
    error NotResolved(address miner);
    /// @notice The dispute beacon round `round` is not recorded on the DrandBeacon yet.
    error DisputeBeaconMissing(uint64 round);
    /// @notice `who` does not hold the minimum active validator stake.
    error JurorNotStaked(address who);
    /// @notice `juror` holds no seat on the second committee of `miner`'s dispute in task `taskId`.
    error NotOnJury(uint256 taskId, address miner, address juror);
    /// @notice The ruling hash must not be zero.
    error ZeroRulingHash();
    /// @notice `juror` already committed a ruling on this dispute.
    error RulingAlreadyCommitted(address juror);
    /// @notice `juror` committed no ruling on this dispute.
    error NoRulingCommitted(address juror);
    /// @notice `juror` already revealed its ruling.
    error RulingAlreadyRevealed(address juror);
    /// @notice The revealed ruling hashes to `got`, not the committed `committed`.
    error RulingMismatch(bytes32 committed, bytes32 got);
    /// @notice The score `score` is above 1.0 (1_000_000).
    error ScoreOutOfRange(uint64 score);
    /// @notice `juror` was already settled for this dispute.
    error JurorAlreadySettled(address juror);
    /// @notice `open` disputes of task `taskId` are not resolved yet: finalize waits.
    error DisputeOpen(uint256 taskId, uint256 open);
    /// @notice A FAILED miner of task `taskId` may still dispute until `deadline`: finalize waits.
    error DisputeWindowOpen(uint256 taskId, uint64 deadline);
    /// @notice The deploy parameter `name` has the invalid value `value`.
    error InvalidParam(string name, uint256 value);
    /// @notice The zero address is not allowed here.
    error ZeroAddress();
    /// @notice The Settlement, StakeManager, TaskBoard and beacon must be the ones Settlement uses.
    error MismatchedWiring();

    /// @notice `prover` opened a leaf of `miner`'s commitment that contradicts the task (`fraud`).
    event FraudProven(
        uint256 indexed taskId, address indexed miner, address indexed prover, ISettlement.Fraud fraud
    );
    /// @notice `miner` disputed its FAIL in task `taskId`, paying in `deposit`; jurors are drawn by `round`.
    event Disputed(uint256 indexed taskId, address indexed miner, uint256 deposit, uint64 round);
    /// @notice `juror`, holding `seats` seats, committed `rulingHash` on `miner`'s dispute and paid in `bond`.
    event RulingCommitted(
        uint256 indexed taskId,
        address indexed miner,
        address indexed juror,
        bytes32 rulingHash,
        uint16 seats,
        uint256 bond
    );
    /// @notice `juror` revealed: `overturn` (the FAIL is wrong) naming `score`, with `seats` seats.
    event RulingRevealed(
        uint256 indexed taskId,
        address indexed miner,
        address indexed juror,
        bool overturn,
        uint64 score,
        uint16 seats
    );
    /// @notice The dispute of `miner` was resolved: `ruling`; `returned` of the deposit went back to the miner,
    /// `toTreasury` to Settlement's treasury, the rest is the winning jurors' fee.
    event DisputeResolved(
        uint256 indexed taskId,
        address indexed miner,
        Ruling ruling,
        uint64 score,
        uint256 returned,
        uint256 toTreasury
    );
    /// @notice `juror` was settled: `paid` (bond and fee) sent back, or `forfeited` (its bond) to the treasury.
    event JurorSettled(
        uint256 indexed taskId,
        address indexed miner,
        address indexed juror,
        bool penalized,
        uint256 paid,
        uint256 forfeited
    );

    /// @notice Fraud proof: opens a leaf of `miner`'s committed root with `proof` and shows it contradicts the
    /// task (wrong task or miner, p >= P, g >= G, reward above 1.0). Anyone, while the task is open. The miner
    /// becomes FAILED at finalize whatever the votes; the prover is credited min(jackpot, lock / 2) out of the
    /// slashed lock.
    function proveFraud(
        uint256 taskId,
        address miner,
        ISettlement.Leaf calldata leaf,
        bytes32[] calldata proof
    ) external;

    /// @notice A miner contested by the votes (a quorum revealed, some FAIL vote, no PASS supermajority: FAILED, or
    /// UNDECIDED with a FAIL) disputes them, after the verify deadline and up to the dispute deadline, paying in a
    /// deposit equal to its task lock (transferFrom: approve it first).
    function dispute(uint256 taskId) external;

    /// @notice A second-committee member commits rulingHash(taskId, miner, juror, overturn, score, salt) after
    /// the dispute deadline, once the dispute beacon is recorded, up to the commit deadline; pays in
    /// validatorBond x seats (transferFrom: approve it first).
    function commitRuling(uint256 taskId, address miner, bytes32 rulingHash_) external;

    /// @notice Reveals the committed ruling: `overturn` true when the named evidence passes the re-audit, with
    /// the miner's `score`; after the commit deadline, up to the reveal deadline.
    function revealRuling(uint256 taskId, address miner, bool overturn, uint64 score, bytes32 salt) external;

    /// @notice Resolves `miner`'s dispute after the reveal deadline (anyone): UPHELD, OVERTURNED or UNRESOLVED
    /// by quorum and supermajority of the 2C seats; pays the deposit out and tells Settlement the ruling.
    function resolve(uint256 taskId, address miner) external;

    /// @notice Settles one juror of a resolved dispute (anyone): returns bond and fee, or forfeits the bond to the
    /// treasury when it never revealed or ruled against the committee's ruling.
    function settleJuror(uint256 taskId, address miner, address juror) external;

    /// @notice Reverts (DisputeOpen, DisputeWindowOpen) while task `taskId` may not be finalized: a dispute is
    /// open, or the dispute window is open and a miner may still dispute. Settlement.finalize calls it.
    function checkFinalizable(uint256 taskId) external view;

    /// @notice Whether `miner` may dispute task `taskId` now (window, contested by the votes, not forced, no fraud
    /// proof, once).
    function canDispute(uint256 taskId, address miner) external view returns (bool);

    /// @notice Second-committee seats of `juror` on `miner`'s dispute: #{i < 2C : uint256(keccak256(abi.encode(
    /// r, taskId, miner, juror, i))) % T < s}, with r the dispute round's randomness, s the juror's validator
    /// stake at the task's verify deadline and T the total validator stake then; 0 for the task's miners. The first
    /// committee's members sit like everyone else, whatever they voted.
    /// Reverts with DisputeBeaconMissing before the round is recorded.
    function jurorSeats(uint256 taskId, address miner, address juror) external view returns (uint16);

    /// @notice keccak256(abi.encode(taskId, miner, juror, overturn, score, salt)), what commitRuling takes.
    function rulingHash(
        uint256 taskId,
        address miner,
        address juror,
        bool overturn,
        uint64 score,
        bytes32 salt
    ) external pure returns (bytes32);

    /// @notice The leaf hash of `leaf` (OpenZeppelin StandardMerkleTree leaf of its seven fields).
    function leafHash(ISettlement.Leaf calldata leaf) external pure returns (bytes32);

    /// @notice Checks a rollout leaf against `miner`'s committed root with OpenZeppelin MerkleProof.
    function verifyLeaf(uint256 taskId, address miner, bytes32[] calldata proof, bytes32 leaf)
        external
        view
        returns (bool);

    /// @notice The dispute timeline of task `taskId`.
    function windows(uint256 taskId) external view returns (Windows memory);

    /// @notice The dispute of `miner` in task `taskId`.
    function disputeOf(uint256 taskId, address miner) external view returns (Dispute memory);

    /// @notice `juror` on `miner`'s dispute in task `taskId`.
    function jurorOf(uint256 taskId, address miner, address juror) external view returns (Juror memory);

    /// @notice The jurors that committed on `miner`'s dispute, in commit order.
    function getJurors(uint256 taskId, address miner) external view returns (address[] memory);

    /// @notice Disputes of task `taskId` not resolved yet.
    function openDisputes(uint256 taskId) external view returns (uint256);

    /// @notice The deploy parameters.
    function params() external view returns (Params memory);

    /// @notice Lots drawn per dispute: twice the first committee's C.
    function jurySeats() external view returns (uint16);
}
