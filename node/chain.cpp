#include "node/chain.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>

#include "engine/executor_common.hpp"
#include "node/block_execution.hpp"
#include "node/snapshot.hpp"
#include "state/file_sync.hpp"

namespace pel {
namespace {

std::string height_context(const std::string& path, std::uint64_t height) {
  return path + ": height " + std::to_string(height);
}

std::string key_file_path(const std::string& datadir) {
  return (std::filesystem::path(datadir) / kProducerKeyFile).string();
}

Status write_key_file(const std::string& path, const Seed& seed) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return error(ErrorCode::kIo, path + ": cannot create: " + std::strerror(errno));
  const std::string text = to_hex(seed) + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) return error(ErrorCode::kIo, path + ": cannot write: " + std::strerror(saved));
  return Status::ok();
}

// The durable mark the chain keeps in its database: the height and hash of the last block a
// synced write made durable.
Bytes durable_mark(std::uint64_t height, const Hash256& hash) {
  Writer w;
  w.u64(height);
  w.raw(hash.view());
  return w.take();
}

// What the genesis header's parent hash holds: a commitment to every genesis parameter, the
// producer's key included, so that the genesis hash names the chain and its author.
Hash256 genesis_commitment(const ledger::GenesisParams& genesis) { return sha256(encode_genesis_params(genesis)); }

constexpr const char* kRestoreAdvice = ": restore the directory from a backup, or init a new one and import the chain";

// Whether a database found not closed cleanly, or holding a damaged log, may be used: every
// block from genesis to the head present, no block reported durable missing, the state whole.
// Runs on the recovery scratch, before the directory itself is touched (Database::open).
Status check_recovered(const std::string& path, Database& db, const Database::Recovery& how) {
  ChainStore store(db);
  auto genesis = store.load_genesis();
  if (!genesis.is_ok()) return genesis.status();
  auto head = store.head();
  if (!head.is_ok()) return head.status();
  Reader mark(how.durable_mark);
  std::uint64_t marked_height = 0;
  ByteView marked_hash;
  if (!mark.u64(marked_height) || !mark.raw(Hash256{}.bytes.size(), marked_hash) || !mark.at_end()) {
    return error(ErrorCode::kCorruption, path + ": the record of the last durable block (pel.durable) is " +
                                             (how.durable_mark.empty() ? "missing: `pel init` did not finish, or the file was removed"
                                                                       : "not a height and a hash") + kRestoreAdvice);
  }
  if (head->height < marked_height) {
    return error(ErrorCode::kCorruption, path + ": reopened at height " + std::to_string(head->height) +
                                             ", but blocks up to height " + std::to_string(marked_height) +
                                             " were reported durable: the write-ahead log lost them (damaged, truncated or "
                                             "deleted)" + kRestoreAdvice);
  }
  auto marked_block = store.block_at(marked_height);
  if (!marked_block.is_ok()) return marked_block.status();
  if (!std::equal(marked_hash.begin(), marked_hash.end(), marked_block->header.hash().bytes.begin())) {
    return error(ErrorCode::kCorruption, height_context(path, marked_height) +
                                             ": the block there is not the one reported durable" + kRestoreAdvice);
  }
  if (how.closed_cleanly && !how.log_was_damaged) return Status::ok();
  // Every block batch holds its block-hash index entry, so a batch the log replay dropped is a
  // height missing there. The index is small (one height per block), so this costs little.
  auto base = store.base_height();
  if (!base.is_ok()) return base.status();
  Status index = store.check_block_index(*base, head->height);
  if (!index.is_ok()) return error(index.code(), index.message() + kRestoreAdvice);
  auto head_block = store.block_at(head->height);
  if (!head_block.is_ok()) return head_block.status();
  auto state = StateStore::open(db);
  if (!state.is_ok()) return state.status();
  auto full = (*state)->recompute_accumulator();
  if (!full.is_ok()) return full.status();
  if (!(*full == (*state)->accumulator()) || full->digest() != head_block->header.state_root) {
    return error(ErrorCode::kCorruption, height_context(path, head->height) +
                                             ": not closed cleanly, and its state does not match the head's state root" +
                                             kRestoreAdvice);
  }
  return Status::ok();
}

Result<Seed> read_key_file(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return error(ErrorCode::kIo, path + ": cannot read");
  auto bytes = from_hex(text);
  Seed seed{};
  if (!bytes.is_ok() || bytes->size() != seed.size()) {
    return error(ErrorCode::kCorruption, path + ": not a producer key (64 hex digits expected)");
  }
  std::copy(bytes->begin(), bytes->end(), seed.begin());
  return seed;
}

}  // namespace

// A block handed to commit_async: the head state seen through its writes while a background
// thread writes it to the database.
struct Chain::PendingCommit {
  PendingCommit(const StateStore& store, ExecutedBlock block, OnDurable callback)
      : executed(std::move(block)), view(store, executed.writes), on_durable(std::move(callback)) {}
  ExecutedBlock executed;
  OverlayState view;  // refers to executed.writes: a PendingCommit never moves
  OnDurable on_durable;
  std::future<Status> written;
  bool synced = false;  // set by the writing thread; read after `written` is ready
};

Chain::Chain(ChainOptions options, std::unique_ptr<Database> db)
    : options_(std::move(options)),
      db_(std::move(db)),
      store_(*db_),
      executor_(ParallelOptions{.threads = options_.threads}) {}

Chain::~Chain() {
  // What the callbacks capture may be gone by now (they belong to whoever committed).
  discard_durability_callbacks();
  try {
    static_cast<void>(close());
  } catch (...) {
    // Out of memory while closing: the directory stays marked in use, and the next open
    // verifies it.
  }
}

void Chain::discard_durability_callbacks() noexcept {
  unsynced_.clear();
  if (pending_) pending_->on_durable = nullptr;  // the writing thread never touches it
}

Status Chain::close() {
  if (closed_) return Status::ok();
  closed_ = true;
  PEL_TRY(flush());
  // A failed write may have left part of a record in the log: the next open verifies the chain.
  if (broken_) {
    return error(ErrorCode::kAborted, options_.datadir + ": an earlier commit failed; not marked cleanly closed");
  }
  return db_->close_cleanly(durable_mark(written_head_.height, written_head_.hash()))
      .with_context(options_.datadir + ": closing");
}

const BaseState& Chain::state() const {
  if (pending_) return pending_->view;
  return *state_;
}

void Chain::wait_for_pending() const {
  if (pending_) pending_->written.wait();
}

Result<std::unique_ptr<Chain>> Chain::open_empty(const ChainOptions& options) {
  ChainOptions opts = options;
  opts.database.path = options.datadir;
  opts.database.create_if_missing = true;
  // The directory is made (durably, in its parent) by the database.
  auto db = Database::open(opts.database, [&](Database& found, const Database::Recovery&) -> Status {
    auto existing = ChainStore(found).holds_chain();
    if (!existing.is_ok()) return existing.status();
    if (*existing) return error(ErrorCode::kInvalidArgument, options.datadir + ": already holds a pel chain");
    // State without a chain: an init stopped while it streamed the genesis. Its keys would mix
    // with this genesis's, under a commitment that counts only this one's.
    bool has_state = false;
    PEL_TRY(found.iterate(StateStore::kStateSpace, [&](ByteView, ByteView) { return !(has_state = true); }));
    if (has_state) {
      return error(ErrorCode::kInvalidArgument, options.datadir + ": holds the state of an init that did not finish; "
                                                                 "remove the directory and run init again");
    }
    return Status::ok();
  });
  if (!db.is_ok()) return db.status();
  std::unique_ptr<Chain> chain(new Chain(opts, std::move(db).value()));
  chain->closed_ = true;  // nothing to mark clean until the first block is written
  auto store = StateStore::open(*chain->db_, opts.history_blocks, opts.state_cache_entries);
  if (!store.is_ok()) return store.status();
  chain->state_ = std::move(store).value();
  return chain;
}

Result<std::unique_ptr<Chain>> Chain::create(const ChainOptions& options,
                                             const ledger::GenesisParams& genesis) {
  PEL_TRY(ledger::check_genesis(genesis));  // before anything is written
  if (genesis.producer != PublicKey{}) PEL_TRY(check_public_key(genesis.producer).with_context("the genesis producer"));
  auto opened = open_empty(options);
  if (!opened.is_ok()) return opened.status();
  std::unique_ptr<Chain> chain = std::move(opened).value();
  const ChainOptions& opts = chain->options_;
  chain->genesis_ = genesis;
  if (genesis.producer == PublicKey{} && !opts.producer_seed) {
    // A new chain with no producer named: this directory becomes its producer.
    auto seed = random_seed();
    if (!seed.is_ok()) return seed.status();
    PEL_TRY(write_key_file(key_file_path(options.datadir), *seed));
    PEL_TRY(sync_directory(options.datadir));
    chain->options_.producer_seed = *seed;
  }
  PEL_TRY(chain->load_producer_key());

  // The genesis state in batches of accounts, unsynced: memory stays bounded whatever its size.
  // The parts are disjoint, so their commitments add up to the state's. Then one compaction,
  // so that a read probes one table, not one per level the load left (at 1,000,000 accounts,
  // import 1.56x). Only the last batch, with the genesis block and the format record, makes it
  // a chain.
  LatticeHash acc;
  Status streamed = Status::ok();
  ledger::for_each_genesis_part(genesis, opts.genesis_accounts_per_batch, [&](WriteSet&& part) {
    if (!streamed.is_ok()) return;
    acc.combine(commitment_of(part));
    WriteBatch batch;
    StateStore::stage_genesis_part(part, batch);
    streamed = chain->db_->write(batch, /*sync=*/false);
  });
  PEL_TRY(streamed.with_context(options.datadir + ": writing the genesis state"));
  PEL_TRY(chain->db_->compact_all().with_context(options.datadir + ": compacting the genesis state"));
  Block block;
  block.header.parent_hash = genesis_commitment(chain->genesis_);
  block.header.transactions_root = transactions_root({});
  block.header.receipts_root = receipts_root({});
  block.header.state_root = acc.digest();
  WriteBatch batch;
  PEL_TRY(chain->state_->stage({}, 0, acc, batch));
  Hash256 hash = block.header.hash();
  ChainStore::put_block(batch, block, hash, {});
  ChainStore::put_genesis(batch, chain->genesis_);
  PEL_TRY(chain->db_->write(batch, /*sync=*/true));
  PEL_TRY(chain->db_->set_durable_mark(durable_mark(0, hash)));
  auto loaded = StateStore::open(*chain->db_, opts.history_blocks, opts.state_cache_entries);  // with the accumulator just written
  if (!loaded.is_ok()) return loaded.status();
  chain->state_ = std::move(loaded).value();
  chain->head_ = block.header;
  chain->head_hash_ = hash;
  chain->written_head_ = block.header;
  chain->closed_ = false;
  return chain;
}

Result<std::unique_ptr<Chain>> Chain::create_from_snapshot(const ChainOptions& options, SnapshotReader& snapshot) {
  const ledger::GenesisParams& genesis = snapshot.genesis();
  const Block& block = snapshot.block();
  const std::uint64_t height = block.header.height;
  const std::string where = options.datadir + ": the snapshot of height " + std::to_string(height);
  // Its trust, before anything is written: a genesis that names its producer, a block that
  // producer signed (or the embedder's check passed), over the block's own body.
  PEL_TRY(ledger::check_genesis(genesis).with_context(where));
  if (genesis.producer == PublicKey{}) return error(ErrorCode::kInvalidArgument, where + ": its genesis names no producer");
  PEL_TRY(check_public_key(genesis.producer).with_context(where + ": the genesis producer"));
  if (height == 0) {
    // The genesis block is not signed: it is the chain's identity, a commitment to its parameters.
    if (block.header.parent_hash != genesis_commitment(genesis) || !block.transactions.empty()) {
      return error(ErrorCode::kVerification, where + ": the genesis block does not commit to the genesis parameters");
    }
  } else {
    Status authored = options.header_check ? options.header_check(block.header)
                                           : check_producer_signature(block.header, genesis.producer);
    PEL_TRY(authored.with_context(where));
    PEL_TRY(check_body(block).with_context(where));
  }

  namespace fs = std::filesystem;
  std::error_code ec;
  const bool existed = fs::exists(options.datadir, ec);
  if (existed && !fs::is_empty(options.datadir, ec)) {
    return error(ErrorCode::kInvalidArgument, options.datadir + ": not empty (a snapshot makes a new chain directory)");
  }
  auto made = [&]() -> Result<std::unique_ptr<Chain>> {
    auto opened = open_empty(options);
    if (!opened.is_ok()) return opened.status();
    std::unique_ptr<Chain> chain = std::move(opened).value();
    chain->genesis_ = genesis;
    PEL_TRY(chain->load_producer_key());
    // The state, a chunk per unsynced batch: memory stays bounded whatever its size. Only the
    // last batch, with the block and the chain's metadata, makes it a chain.
    LatticeHash acc;
    for (;;) {
      auto chunk = snapshot.next_chunk();
      if (!chunk.is_ok()) return chunk.status();
      if (!chunk->has_value()) break;
      acc.combine(commitment_of(**chunk));
      WriteBatch batch;
      StateStore::stage_genesis_part(**chunk, batch);
      PEL_TRY(chain->db_->write(batch, /*sync=*/false).with_context(options.datadir + ": writing the snapshot's state"));
    }
    PEL_TRY(chain->db_->compact_all().with_context(options.datadir + ": compacting the snapshot's state"));
    if (acc.digest() != block.header.state_root) {
      return error(ErrorCode::kVerification, where + ": its state hashes to " + acc.digest().hex() +
                                                 ", not to the block's state root " + block.header.state_root.hex());
    }
    const Hash256 hash = block.header.hash();
    WriteBatch batch;
    StateStore::stage_snapshot_base(height, acc, batch);
    // No receipts: the snapshot carries the block, not what executing it gave.
    ChainStore::put_block(batch, block, hash, {});
    ChainStore::put_base_height(batch, height);
    ChainStore::put_genesis(batch, genesis);
    PEL_TRY(chain->db_->write(batch, /*sync=*/true));
    PEL_TRY(chain->db_->set_durable_mark(durable_mark(height, hash)));
    auto loaded = StateStore::open(*chain->db_, chain->options_.history_blocks, chain->options_.state_cache_entries);
    if (!loaded.is_ok()) return loaded.status();
    chain->state_ = std::move(loaded).value();
    chain->base_height_ = height;
    chain->head_ = block.header;
    chain->head_hash_ = hash;
    chain->written_head_ = block.header;
    chain->durable_height_ = height;
    chain->closed_ = false;
    return chain;
  }();
  if (!made.is_ok()) {
    // No half-made directory: what this call wrote goes (the chain closed first, with `made`).
    made = Result<std::unique_ptr<Chain>>(made.status());
    fs::remove_all(options.datadir, ec);
    if (existed) fs::create_directory(options.datadir, ec);
  }
  return made;
}

Result<std::unique_ptr<Chain>> Chain::open(const ChainOptions& options) {
  if (!std::filesystem::exists(std::filesystem::path(options.datadir) / "CURRENT")) {
    return error(ErrorCode::kNotFound, options.datadir + ": no pel chain here (run `pel init` first)");
  }
  ChainOptions opts = options;
  opts.database.path = options.datadir;
  opts.database.create_if_missing = false;
  auto db = Database::open(opts.database, [&](Database& recovered, const Database::Recovery& how) {
    return check_recovered(options.datadir, recovered, how);
  });
  if (!db.is_ok()) return db.status();
  std::unique_ptr<Chain> chain(new Chain(opts, std::move(db).value()));
  PEL_TRY(chain->load_head());
  return chain;
}

Status Chain::load_producer_key() {
  const std::string file = key_file_path(options_.datadir);
  if (!options_.producer_seed && std::filesystem::exists(file)) {
    auto seed = read_key_file(file);
    if (!seed.is_ok()) return seed.status();
    options_.producer_seed = *seed;
  }
  if (!options_.producer_seed) return Status::ok();  // imports only
  auto key = KeyPair::from_seed(*options_.producer_seed);
  if (!key.is_ok()) return key.status();
  if (genesis_.producer == PublicKey{}) genesis_.producer = key->public_key();
  if (key->public_key() != genesis_.producer) {
    return error(ErrorCode::kInvalidArgument, options_.datadir + ": the producer key given (" + key->public_key().hex() +
                                                  ") is not this chain's producer " + genesis_.producer.hex());
  }
  producer_key_ = std::move(key).value();
  return Status::ok();
}

Status Chain::check_header(const BlockHeader& header) const {
  if (options_.header_check) return options_.header_check(header);
  return check_producer_signature(header, genesis_.producer);
}

Status Chain::load_head() {
  const std::string& path = options_.datadir;
  auto genesis = store_.load_genesis();
  if (!genesis.is_ok()) return genesis.status();
  genesis_ = *genesis;
  PEL_TRY(load_producer_key());

  auto base = store_.base_height();
  if (!base.is_ok()) return base.status();
  base_height_ = *base;
  auto first = block_at(base_height_);
  if (!first.is_ok()) return first.status();
  if (base_height_ == 0 && first->header.parent_hash != genesis_commitment(genesis_)) {
    return error(ErrorCode::kCorruption, path + ": the genesis block does not commit to the stored genesis parameters");
  }
  auto head = store_.head();
  if (!head.is_ok()) return head.status();
  const std::uint64_t height = head->height;
  const Hash256 hash = head->hash;
  auto block = block_at(height);
  if (!block.is_ok()) return block.status();
  if (block->header.hash() != hash) {
    return error(ErrorCode::kCorruption, height_context(path, height) + ": head hash does not match the stored block");
  }
  head_ = block->header;
  head_hash_ = hash;
  written_head_ = head_;
  durable_height_ = height;

  auto store = StateStore::open(*db_, options_.history_blocks, options_.state_cache_entries);
  if (!store.is_ok()) return store.status();
  state_ = std::move(store).value();
  if (state_->state_root() != head_.state_root) {
    return error(ErrorCode::kCorruption,
                 height_context(path, height) + ": stored state commitment does not match the head's state root");
  }
  return Status::ok();
}

Result<ExecutedBlock> Chain::execute(std::vector<ledger::Transaction> txns, std::uint64_t timestamp,
                                     const Address& beneficiary,
                                     const std::vector<std::uint8_t>* precomputed_signatures) {
  if (!producer_key_) {
    return error(ErrorCode::kInvalidArgument, options_.datadir + ": no producer key (" + kProducerKeyFile +
                                                  "): this chain imports blocks but cannot make them");
  }
  auto executed = execute_block(std::move(txns), timestamp, beneficiary, precomputed_signatures, nullptr);
  if (!executed.is_ok()) return executed;
  BlockHeader& h = executed->block.header;
  auto signature = producer_key_->sign(h.hash().view());
  if (!signature.is_ok()) return signature.status().with_context(height_context(options_.datadir, h.height));
  h.producer_signature = *signature;
  return executed;
}

Result<ExecutedBlock> Chain::execute_block(std::vector<ledger::Transaction> txns, std::uint64_t timestamp,
                                           const Address& beneficiary,
                                           const std::vector<std::uint8_t>* precomputed_signatures,
                                           const Bytes* imported_list, const AccessList* decoded_list) {
  if (broken_) return error(ErrorCode::kAborted, options_.datadir + ": an earlier commit failed; reopen the chain");
  if (closed_) return error(ErrorCode::kAborted, options_.datadir + ": the chain is closed");
  const std::uint64_t height = head_.height + 1;
  ExecutedBlock out;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::uint8_t> signature_ok;
  if (precomputed_signatures) {
    if (precomputed_signatures->size() != txns.size()) {
      return error(ErrorCode::kInvalidArgument, "one signature verdict per transaction expected");
    }
    signature_ok = *precomputed_signatures;
  } else if (options_.signatures == SignaturePolicy::kVerify) {
    signature_ok = ledger::verify_signatures(txns, options_.threads);
  } else {
    signature_ok.assign(txns.size(), 1);
  }
  out.timings.signatures_ns = elapsed_ns(t0);

  ledger::BlockContext ctx{.height = height, .timestamp = timestamp, .beneficiary = beneficiary,
                           .chain_id = genesis_.chain_id};
  // While the previous block is still being written, its writes are read from memory.
  const LatticeHash& before = pending_ ? pending_->executed.accumulator : state_->accumulator();
  AccessListInput list_input = RecordAccessList{};
  if (imported_list != nullptr && options_.use_access_lists) {
    list_input = ExecuteAccessList{.encoded = *imported_list, .decoded = decoded_list};
  } else if (imported_list != nullptr) {
    list_input = CheckAccessList{.encoded = *imported_list};
  }
  if (decoded_list != nullptr && options_.prefetch_readers > 0) {
    // Every key the block will read, gathered before it runs: from the disk at once rather than
    // one by one inside its transactions (the pending block's writes from memory), into a table
    // that its execution, commitment and commit read.
    auto t1 = std::chrono::steady_clock::now();
    out.gathered = state_->gather(decoded_list->keys, pending_ ? &pending_->view : nullptr, options_.prefetch_readers);
    out.timings.prefetch_ns = elapsed_ns(t1);
  }
  auto execution = pel::execute_block(executor_, {.context = ctx,
                                                  .transactions = txns,
                                                  .signature_ok = signature_ok,
                                                  .ledger = options_.ledger,
                                                  .base = out.gathered ? *out.gathered : state(),
                                                  .accumulator_before = before,
                                                  .access_list = list_input});
  if (!execution.is_ok()) return execution.status().with_context(options_.datadir);
  out.timings.execution_ns = execution->execution_ns;
  out.timings.roots_ns = execution->roots_ns;
  out.block.header = execution->header;
  out.block.header.parent_hash = head_hash_;
  out.receipts = std::move(execution->receipts);
  out.encoded_receipts = std::move(execution->encoded_receipts);
  out.accumulator = execution->accumulator;
  BlockResult& result = execution->result;
  out.block.transactions = std::move(txns);
  out.block.access_list = std::move(execution->access_list);
  out.writes = std::move(result.writes);
  out.stats = result.stats;
  return out;
}

Status Chain::check_extends_head(const BlockHeader& h) const {
  const std::string ctx = height_context(options_.datadir, h.height);
  if (broken_) return error(ErrorCode::kAborted, ctx + ": an earlier commit failed; reopen the chain");
  if (closed_) return error(ErrorCode::kAborted, ctx + ": the chain is closed");
  return check_extends(h, head_.height, head_hash_).with_context(ctx);
}

Status Chain::write_block(ExecutedBlock& executed, bool& synced) {
  const BlockHeader& h = executed.block.header;
  const std::string ctx = height_context(options_.datadir, h.height);
  if (options_.fail_commit_at && *options_.fail_commit_at == h.height) {
    return error(ErrorCode::kIo, ctx + ": injected write failure (nothing written)");
  }
  auto t0 = std::chrono::steady_clock::now();
  WriteBatch& batch = block_batch_;
  batch.clear();
  PEL_TRY(state_->stage(executed.writes, h.height, executed.accumulator, batch, executed.gathered.get()).with_context(ctx));
  executed.gathered.reset();  // staged: an unsynced block kept for its callback need not hold it
  ChainStore::put_block(batch, executed.block, h.hash(), executed.encoded_receipts);
  const std::uint32_t every = std::max<std::uint32_t>(1, options_.sync_every_blocks);
  synced = h.height % every == 0;
  PEL_TRY(db_->write(batch, synced).with_context(ctx));
  if (synced) PEL_TRY(db_->set_durable_mark(durable_mark(h.height, h.hash())).with_context(ctx));
  state_->publish(executed.writes, executed.accumulator);
  executed.timings.commit_ns = elapsed_ns(t0);
  return Status::ok();
}

void Chain::mark_written_durable() {
  durable_height_ = written_head_.height;
  // Moved out first: a callback may commit again.
  std::vector<UnsyncedBlock> ready = std::exchange(unsynced_, {});
  for (UnsyncedBlock& b : ready) b.on_durable(b.executed);
}

Status Chain::commit(ExecutedBlock& executed, OnDurable on_durable) {
  PEL_TRY(wait_for_write());
  PEL_TRY(check_extends_head(executed.block.header));
  bool synced = false;
  if (Status written = write_block(executed, synced); !written.is_ok()) {
    broken_ = true;  // LevelDB may have failed after logging part of it: reopen to recover
    return written;
  }
  head_ = executed.block.header;
  head_hash_ = head_.hash();
  written_head_ = head_;
  if (synced) {
    mark_written_durable();
    if (on_durable) on_durable(executed);
  } else if (on_durable) {
    unsynced_.push_back({executed, std::move(on_durable)});
  }
  return Status::ok();
}

Status Chain::commit_async(ExecutedBlock executed, OnDurable on_durable) {
  PEL_TRY(wait_for_write());
  PEL_TRY(check_extends_head(executed.block.header));
  pending_ = std::make_unique<PendingCommit>(*state_, std::move(executed), std::move(on_durable));
  head_ = pending_->executed.block.header;
  head_hash_ = head_.hash();
  // A thread of its own rather than a TBB task: it mostly waits on the disk.
  pending_->written = std::async(std::launch::async, [this, pending = pending_.get()] {
    return write_block(pending->executed, pending->synced);
  });
  return Status::ok();
}

Status Chain::wait_for_write() {
  if (!pending_) return Status::ok();
  Status written = pending_->written.get();
  std::unique_ptr<PendingCommit> done = std::move(pending_);
  if (!written.is_ok()) {
    broken_ = true;  // the head had moved past what is written: bring it back
    head_ = written_head_;
    head_hash_ = head_.hash();
    return written;
  }
  written_head_ = done->executed.block.header;
  if (done->on_durable) unsynced_.push_back({std::move(done->executed), std::move(done->on_durable)});
  if (done->synced) mark_written_durable();
  return Status::ok();
}

Status Chain::flush() {
  PEL_TRY(wait_for_write());
  if (durable_height_ == written_head_.height) return Status::ok();
  const std::string ctx = height_context(options_.datadir, written_head_.height);
  PEL_TRY(db_->sync().with_context(ctx));
  PEL_TRY(db_->set_durable_mark(durable_mark(written_head_.height, written_head_.hash())).with_context(ctx));
  mark_written_durable();
  return Status::ok();
}

Result<ExecutedBlock> Chain::execute_import(const Block& block, const std::vector<std::uint8_t>* signature_ok,
                                            const DecodedAccessList* decoded_list) {
  const BlockHeader& h = block.header;
  const std::string ctx = height_context(options_.datadir, h.height);
  PEL_TRY(check_extends(h, head_.height, head_hash_).with_context(ctx));
  PEL_TRY(check_header(h).with_context(ctx));
  PEL_TRY(check_body(block).with_context(ctx));
  if (decoded_list != nullptr && decoded_list->block_hash() != h.hash()) {
    return error(ErrorCode::kInvalidArgument, ctx + ": the decoded access list handed in was decoded from block " +
                                                  decoded_list->block_hash().hex() + ", not this one");
  }
  auto executed = execute_block(block.transactions, h.timestamp, h.beneficiary, signature_ok, &block.access_list,
                                decoded_list == nullptr ? nullptr : &decoded_list->list());
  Status outcome = executed.is_ok() ? check_executed_header(h, executed->block.header).with_context(ctx) : executed.status();
  if (!outcome.is_ok()) return explain_skipped_signatures(block, signature_ok, outcome);
  executed->block.header.producer_signature = h.producer_signature;  // checked above
  return executed;
}

Status Chain::explain_skipped_signatures(const Block& block, const std::vector<std::uint8_t>* signature_ok,
                                         const Status& failure) const {
  // Only where this node trusted every signature: verdicts handed in are the caller's.
  if (signature_ok != nullptr || options_.signatures != SignaturePolicy::kAssumeValid) return failure;
  const std::vector<std::uint8_t> verdicts = ledger::verify_signatures(block.transactions, options_.threads);
  const auto bad = std::find(verdicts.begin(), verdicts.end(), 0);
  if (bad == verdicts.end()) return failure;
  return error(failure.code(), height_context(options_.datadir, block.header.height) + ": transaction " +
                                   std::to_string(bad - verdicts.begin()) +
                                   " has a bad signature, which the skipped signature check took as good, so this node "
                                   "executed what the producer discarded: import it with signatures checked (" +
                                   failure.message() + ")");
}

Status Chain::import(const Block& block, const std::vector<std::uint8_t>* signature_ok, OnDurable on_durable,
                     const DecodedAccessList* decoded_list) {
  auto executed = execute_import(block, signature_ok, decoded_list);
  if (!executed.is_ok()) return executed.status();
  return commit(*executed, std::move(on_durable));
}

Status Chain::import_async(const Block& block, const std::vector<std::uint8_t>* signature_ok, OnDurable on_durable,
                           const DecodedAccessList* decoded_list) {
  auto executed = execute_import(block, signature_ok, decoded_list);
  if (!executed.is_ok()) return executed.status();
  return commit_async(std::move(executed).value(), std::move(on_durable));
}

Result<std::optional<Value>> Chain::get_state(const StateKey& key) const {
  std::optional<Value> value = state().get(key);
  PEL_TRY(state().take_read_error().with_context(options_.datadir + ": state key " + key.hex()));
  return value;
}

Result<Block> Chain::block_at(std::uint64_t height) const {
  wait_for_pending();
  return store_.block_at(height);
}

Result<std::vector<ledger::Receipt>> Chain::receipts_at(std::uint64_t height) const {
  wait_for_pending();
  return store_.receipts_at(height);
}

Status Chain::check_not_beyond_head(std::uint64_t height) const {
  if (height <= head_.height) return Status::ok();
  return error(ErrorCode::kNotFound, height_context(options_.datadir, height) + ": beyond the head (" +
                                         std::to_string(head_.height) + ")");
}

Result<std::unique_ptr<HistoricalState>> Chain::state_at(std::uint64_t height) const {
  wait_for_pending();
  PEL_TRY(check_not_beyond_head(height));
  return state_->state_at(height);
}

Result<LatticeHash> Chain::accumulator_at(std::uint64_t height) const {
  wait_for_pending();
  PEL_TRY(check_not_beyond_head(height));
  return state_->accumulator_at(height);
}

std::uint64_t Chain::oldest_state_height() const {
  wait_for_pending();
  return state_->oldest_height();
}

Status Chain::verify_state() const {
  wait_for_pending();
  auto full = state_->recompute_accumulator();
  if (!full.is_ok()) return full.status();
  if (!(*full == state_->accumulator())) {
    return error(ErrorCode::kVerification, options_.datadir + ": recomputed state commitment differs from the incremental one");
  }
  if (full->digest() != head_.state_root) {
    return error(ErrorCode::kVerification, height_context(options_.datadir, head_.height) + ": state root mismatch");
  }
  return Status::ok();
}

}  // namespace pel
