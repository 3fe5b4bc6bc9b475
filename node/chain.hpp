// The embedding API: a chain directory with its LevelDB store, and the operations a node needs —
// execute a block in parallel, commit it atomically, import a block made elsewhere, read state.
// Thread-safety: one Chain is used from one thread at a time (it runs its own workers inside).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/block_result.hpp"
#include "engine/ledger/genesis.hpp"
#include "engine/ledger/ledger_vm.hpp"
#include "engine/ledger/receipt.hpp"
#include "engine/parallel_executor.hpp"
#include "node/block.hpp"
#include "node/chain_store.hpp"
#include "state/database.hpp"
#include "state/state_store.hpp"

namespace pel {

class SnapshotReader;

/// How transaction signatures are judged.
enum class SignaturePolicy : std::uint8_t {
  kVerify,       // every signature is checked (the default)
  kAssumeValid,  // trusted as checked before: blocks this node imported or made itself
};

struct ChainOptions {
  std::string datadir;
  int threads = 2;                 // Block-STM workers (and signature checking workers)
  DatabaseOptions database;        // LevelDB's; path is taken from datadir
  /// Sync every Nth block commit to disk (1: every block, the safe default). Every batch is
  /// atomic and carries the new head, so a crash always reopens at a whole block; a larger N
  /// only lets a power loss take back up to N-1 of the latest blocks (a log is synced before
  /// LevelDB leaves it, so no earlier block is lost under a later one).
  std::uint32_t sync_every_blocks = 1;
  /// The read cache in front of the state table, in entries.
  std::size_t state_cache_entries = StateStore::kDefaultCacheEntries;
  ledger::LedgerOptions ledger;    // VM knobs (the benchmark's --work)
  SignaturePolicy signatures = SignaturePolicy::kVerify;
  /// import() executes a block from its access list (no speculation), which proves the list.
  /// False: plain Block-STM, and the list it records must equal the block's (for comparison).
  bool use_access_lists = true;
  /// The producer's key (its seed): execute() signs every header with it. Unset, Chain::open
  /// reads DATADIR/producer.key when there is one, and Chain::create makes a fresh random key
  /// there when the genesis names no producer. A chain without the key imports blocks but
  /// cannot make them.
  std::optional<Seed> producer_seed;
  /// Whether an imported or replayed header may join the chain (its author). Unset: the header
  /// must carry the genesis producer's signature over its hash. An embedder may put its own
  /// rule here (a validator set, a consensus certificate). Called concurrently with the chain's
  /// own work: import_blocks authenticates the next block on its read-ahead thread.
  std::function<Status(const BlockHeader&)> header_check;
  /// Chain::create writes the genesis state in batches of this many accounts' records (about
  /// 13 keys each with the default genesis), so memory stays bounded at any size.
  std::uint32_t genesis_accounts_per_batch = 50'000;
  /// How many blocks of state history to keep below the head, readable with state_at() and
  /// replayable: unset keeps every height since genesis (an archive node). With N, each commit
  /// removes the history of the heights that fell below head - N.
  std::optional<std::uint64_t> history_blocks;
  /// Before an imported block executes from its access list, the values of the keys the list
  /// names are gathered, those the state cache lacks read by this many threads at once, so that
  /// no transaction waits on the disk; the block's execution, state commitment and commit read
  /// them from that gathering (0: none, each read made when a transaction first needs it).
  int prefetch_readers = 16;
  /// Tests only: fail the commit of this height before anything is written.
  std::optional<std::uint64_t> fail_commit_at;
};

/// Wall time of each stage of one block, in nanoseconds.
struct BlockTimings {
  std::uint64_t signatures_ns = 0;
  std::uint64_t prefetch_ns = 0;   // the access list's keys read ahead (import)
  std::uint64_t execution_ns = 0;  // Block-STM run plus write-set collection
  std::uint64_t roots_ns = 0;      // state commitment and Merkle roots
  std::uint64_t commit_ns = 0;     // building and writing the LevelDB batch
};

/// A block executed on top of the head but not committed: its header carries every root.
struct ExecutedBlock {
  Block block;
  std::vector<ledger::Receipt> receipts;
  std::vector<Bytes> encoded_receipts;  // as hashed into the receipts root, and stored
  WriteSet writes;
  ExecutionStats stats;
  BlockTimings timings;
  LatticeHash accumulator;  // the state commitment after the block
  /// What the block read of the state before it, gathered from its access list (imported
  /// blocks): its commit takes the values it overwrites from here. Dropped once it is written.
  std::shared_ptr<const BlockReads> gathered;
};

/// Called once a block committed with commit_async() is durable.
using OnDurable = std::function<void(const ExecutedBlock&)>;

class Chain {
 public:
  /// Creates a new chain directory with the genesis built from `genesis`. Fails when the
  /// directory already holds a chain.
  static Result<std::unique_ptr<Chain>> create(const ChainOptions& options,
                                               const ledger::GenesisParams& genesis);
  /// Creates a new chain directory at the block of `snapshot`: its header must be signed by the
  /// genesis producer (or pass options.header_check), its body must match the header, and the
  /// state must hash to its state root; only then is the chain made, with that block as its
  /// head and first kept height (blocks below it are absent: import skips them). The state is
  /// streamed in bounded memory. Fails on a directory that is not empty; on any failure, it
  /// leaves no directory behind (or an empty one, where it found one).
  static Result<std::unique_ptr<Chain>> create_from_snapshot(const ChainOptions& options, SnapshotReader& snapshot);
  /// Opens an existing chain directory; errors name the path and the problem (missing, locked,
  /// corrupted, another format version). No block reported durable may be missing: an open that
  /// comes back below the last one (a damaged, truncated or deleted write-ahead log) fails with
  /// kCorruption naming both heights. A directory that was not closed cleanly (a crash, a kill,
  /// a damaged write-ahead log) is verified, in a scratch copy, before anything in it is
  /// changed: every block from genesis to the head must be present and the state must hash to
  /// the head's state root (a full recomputation, linear in the state's size); otherwise the
  /// open fails with kCorruption and leaves the directory as it was.
  static Result<std::unique_ptr<Chain>> open(const ChainOptions& options);
  /// close(), ignoring its error (a directory not closed cleanly is verified when reopened).
  ~Chain();

  /// Waits for the background write, makes every written block durable, moves LevelDB's log
  /// into table files and marks the directory cleanly closed. Afterwards the chain refuses new
  /// blocks; reads still work. Fails, leaving the directory to be verified by the next open,
  /// when a commit failed.
  Status close();
  /// Drops the on_durable callbacks not yet run, for a caller about to destroy what they
  /// capture. The destructor does it too: flush() first to have them run.
  void discard_durability_callbacks() noexcept;
  /// A commit failed: the chain refuses new blocks until it is reopened.
  bool broken() const { return broken_; }

  const ledger::GenesisParams& genesis() const { return genesis_; }
  /// The height the chain starts from: 0, or that of the snapshot it was made from.
  std::uint64_t base_height() const { return base_height_; }
  const BlockHeader& head() const { return head_; }
  Hash256 head_hash() const { return head_hash_; }

  /// Whether this chain holds the producer's key and so can make blocks with execute().
  bool can_produce() const { return producer_key_.has_value(); }
  /// The author check imports and replays apply to every header after genesis.
  /// Thread-safe: reads only what open() set.
  Status check_header(const BlockHeader& header) const;

  /// Executes `txns` as the next block, in parallel, and fills in its header, signed with the
  /// producer's key; commits nothing. Fails on a chain without the producer's key.
  /// `signature_ok`, when given, holds verdicts already computed by verify_signatures (a
  /// pipeline checks the next block's signatures while this one executes).
  Result<ExecutedBlock> execute(std::vector<ledger::Transaction> txns, std::uint64_t timestamp,
                                const Address& beneficiary,
                                const std::vector<std::uint8_t>* signature_ok = nullptr);
  /// Writes the block, its receipts, its state changes and the new head in one atomic batch,
  /// synced when the block's height is a multiple of database.sync_every_blocks (every block by
  /// default). `on_durable` runs on this thread once the block is durable: before commit returns
  /// when this write was synced, otherwise after a later synced write or flush().
  Status commit(ExecutedBlock& executed, OnDurable on_durable = {});
  /// The pipelined commit: moves the head to `executed` at once and writes it in the background,
  /// so the next execute() overlaps the write (it reads the block's writes from memory). The
  /// write's outcome comes from the next commit_async(), commit() or flush(); `on_durable` runs
  /// on this thread once the block is durable, as for commit(). A failed write breaks the chain:
  /// the head goes back to the last block written, and the chain refuses new blocks until it is
  /// reopened.
  Status commit_async(ExecutedBlock executed, OnDurable on_durable = {});
  /// Waits for the background write, if any, and syncs every block written so far: afterwards
  /// durable_height() is the head's height, and every on_durable callback has run.
  Status flush();
  /// The highest block known to be on disk (synced): a crash or power cut cannot take it back.
  std::uint64_t durable_height() const { return durable_height_; }
  /// Imports a block made elsewhere: checks height, parent and transaction root, re-executes,
  /// compares every root, and commits only if all match.
  /// `decoded_list`, when given, is block.decode_access_list(), refused (kInvalidArgument) when it
  /// was decoded from another block (a pipeline decodes the next
  /// block's list while this one executes).
  Status import(const Block& block, const std::vector<std::uint8_t>* signature_ok = nullptr,
                OnDurable on_durable = {}, const DecodedAccessList* decoded_list = nullptr);
  /// import() with commit_async().
  Status import_async(const Block& block, const std::vector<std::uint8_t>* signature_ok = nullptr,
                      OnDurable on_durable = {}, const DecodedAccessList* decoded_list = nullptr);

  /// The state at the head, including a block still being written in the background. Valid
  /// until the next commit, commit_async or flush.
  const BaseState& state() const;
  /// One value at the head (std::nullopt when absent), or the error that kept it from being read.
  Result<std::optional<Value>> get_state(const StateKey& key) const;
  Result<Block> block_at(std::uint64_t height) const;
  Result<std::vector<ledger::Receipt>> receipts_at(std::uint64_t height) const;
  /// The state after block `height`, read in place (one seek per key, nothing copied). Later
  /// commits do not change what it reads; once the kept window (history_blocks) moves past its
  /// height, its reads fail. It must not outlive the chain. Fails with kNotFound, naming the
  /// kept window, for a height beyond the head or below oldest_state_height().
  Result<std::unique_ptr<HistoricalState>> state_at(std::uint64_t height) const;
  /// The state commitment after block `height` (its digest is that block's state root).
  Result<LatticeHash> accumulator_at(std::uint64_t height) const;
  /// The lowest height whose state is kept (see ChainOptions::history_blocks).
  std::uint64_t oldest_state_height() const;
  /// Recomputes the state commitment from every stored pair and compares it with the head's.
  Status verify_state() const;

  const ChainOptions& options() const { return options_; }

 private:
  struct PendingCommit;
  struct UnsyncedBlock {
    ExecutedBlock executed;
    OnDurable on_durable;
  };

  Chain(ChainOptions options, std::unique_ptr<Database> db);
  /// A new, empty chain directory (refusing one that holds a chain or an unfinished init), with
  /// its state store; the caller writes the first block.
  static Result<std::unique_ptr<Chain>> open_empty(const ChainOptions& options);
  Status load_head();
  Status load_producer_key();
  /// Executes `txns` on the head (pel::execute_block) and builds the unsigned header. Records
  /// the access list when `imported_list` is null (making a block), else executes from it or
  /// checks it (options_.use_access_lists).
  Result<ExecutedBlock> execute_block(std::vector<ledger::Transaction> txns, std::uint64_t timestamp,
                                      const Address& beneficiary, const std::vector<std::uint8_t>* signature_ok,
                                      const Bytes* imported_list, const AccessList* decoded_list = nullptr);
  Result<ExecutedBlock> execute_import(const Block& block, const std::vector<std::uint8_t>* signature_ok,
                                       const DecodedAccessList* decoded_list);
  Status check_extends_head(const BlockHeader& header) const;
  Status check_not_beyond_head(std::uint64_t height) const;
  /// `failure` of an import whose signatures this node took as valid without checking them:
  /// says so, naming the first bad one, when one is bad (the skipped check changed the outcome).
  Status explain_skipped_signatures(const Block& block, const std::vector<std::uint8_t>* signature_ok,
                                    const Status& failure) const;
  /// Stages and writes one block; the durable half of commit and commit_async. Sets `synced`
  /// when the write was synced.
  Status write_block(ExecutedBlock& executed, bool& synced);
  /// Waits for the background write and settles it: its error, or its durability bookkeeping.
  Status wait_for_write();
  /// Every block written so far is durable: run their callbacks.
  void mark_written_durable();
  /// Waits until nothing is being written in the background (readers of the database call it).
  void wait_for_pending() const;

  ChainOptions options_;
  std::unique_ptr<Database> db_;
  ChainStore store_;                    // blocks, receipts, head and metadata in db_
  std::unique_ptr<StateStore> state_;   // the committed state, its undo records and commitment
  ledger::GenesisParams genesis_;
  std::uint64_t base_height_ = 0;
  std::optional<KeyPair> producer_key_;
  BlockHeader head_;
  Hash256 head_hash_;
  ParallelExecutor executor_;
  std::unique_ptr<PendingCommit> pending_;  // the block commit_async is writing, if any
  /// The batch write_block() fills, kept so that its buffer (megabytes) is allocated once, not
  /// per block. One write_block() runs at a time.
  WriteBatch block_batch_;
  BlockHeader written_head_;                // the last block written to the database
  std::uint64_t durable_height_ = 0;        // the last block synced
  std::vector<UnsyncedBlock> unsynced_;     // written, not yet synced, with a callback
  bool broken_ = false;  // a commit failed: refuse further writes until the chain is reopened
  bool closed_ = false;
};

/// Discards a chain's on_durable callbacks not yet run when it goes out of scope. Declared after
/// what the callbacks capture, no callback outlives it on an early return or an exception.
class DiscardCallbacksOnExit {
 public:
  explicit DiscardCallbacksOnExit(Chain& chain) : chain_(chain) {}
  ~DiscardCallbacksOnExit() { chain_.discard_durability_callbacks(); }
  DiscardCallbacksOnExit(const DiscardCallbacksOnExit&) = delete;
  DiscardCallbacksOnExit& operator=(const DiscardCallbacksOnExit&) = delete;

 private:
  Chain& chain_;
};

/// Where Chain::create keeps the producer key it makes: 64 hex digits (the seed), mode 0600.
inline constexpr const char* kProducerKeyFile = "producer.key";

}  // namespace pel
