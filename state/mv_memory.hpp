// Block-STM's multi-version memory: for every key, the values written by this block's
// transactions, indexed by transaction, so that transaction j reads what the highest i < j wrote.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include <boost/container/small_vector.hpp>
#include <oneapi/tbb/spin_mutex.h>

#include "state/types.hpp"

namespace pel {

/// Identifies one execution: which transaction and which incarnation of it wrote a value.
struct Version {
  TxnIndex txn = 0;
  Incarnation incarnation = 0;
  friend bool operator==(const Version&, const Version&) = default;
};

/// Everything written to one key during a block. Cells live until the MVMemory is destroyed, so
/// executions keep plain pointers to them and validation never hashes a key again.
struct KeyCell {
  explicit KeyCell(const StateKey& k) : key(k) {}

  struct Entry {
    TxnIndex txn;
    Incarnation incarnation;
    bool estimate;  // ESTIMATE marker: txn was aborted and will likely write again
    bool declared;  // an ESTIMATE placed from txn's declared writes, before it ran
    bool is_delta;  // txn added `delta` to the key's value instead of writing one
    union {
      /// When !is_delta: the value in the writing execution's own output (see
      /// MVMemory::record), not a copy; nullopt there: deleted. Null for a declared ESTIMATE,
      /// which no execution wrote yet.
      const std::optional<Value>* value;
      std::uint64_t delta;  // when is_delta
    };
  };

  const StateKey key;
  mutable tbb::spin_mutex mutex;  // guards entries; held for a search or one update, never across calls
  /// Bumped under `mutex` by every change to entries, so that an execution asking whether its
  /// reads still hold skips the cells nobody touched since (MVMemory::read_is_current).
  std::atomic<std::uint32_t> changes{0};
  /// Sorted by txn, at most one entry per transaction. Most keys see one or two writers in a
  /// block, so those live inline without an allocation.
  boost::container::small_vector<Entry, 2> entries;
};

/// What a read of one key by one transaction observed.
struct MVRead {
  enum class Kind { kStorage, kValue, kDependency };
  Kind kind = Kind::kStorage;  // with deltas: where the value they add to comes from
  Version version;             // kValue: who wrote it
  std::optional<Value> value;  // kValue: the value (nullopt when deleted)
  /// Lower transactions added to the key since that value: what is read is `value` (or the
  /// storage value) with `deltas` applied (Vm::apply_delta).
  bool has_deltas = false;
  DeltaSum deltas = 0;
  TxnIndex blocking_txn = 0;   // kDependency: the transaction whose ESTIMATE was met
  bool predicted = false;      // kDependency: the ESTIMATE came from a declaration, not an abort
  std::uint32_t changes = 0;   // the cell's change count when it was read
};

/// A read recorded during execution, re-checked by validation.
struct ReadDescriptor {
  const KeyCell* cell;
  bool from_storage;  // no lower transaction had written the key (deltas aside)
  /// Deltas were added on top: the read holds while the same base is found with the same sum,
  /// kept in the read set's DeltaReads, in the order of these reads.
  bool with_deltas = false;
  Version version;    // when !from_storage
  std::uint32_t changes = 0;  // MVRead::changes of the read
};
static_assert(sizeof(ReadDescriptor) == 24, "the change count and delta flag live in what was padding");
/// One execution's reads, in order. Most ledger transactions read 2-4 keys: those live inline,
/// so recording an execution allocates nothing for them.
using ReadSet = boost::container::small_vector<ReadDescriptor, 4>;
/// The delta sums of one execution's reads that had deltas (ReadDescriptor::with_deltas), in order.
using DeltaReads = std::vector<DeltaSum>;

/// The multi-version store of one block.
/// Thread-safety: every member may be called concurrently, with the protocol Block-STM's
/// scheduler guarantees: record() and convert_writes_to_estimates() for one transaction are
/// never concurrent with each other, and final_writes() runs after all executions finished.
class MVMemory {
 public:
  explicit MVMemory(std::size_t block_size);
  ~MVMemory();
  MVMemory(const MVMemory&) = delete;
  MVMemory& operator=(const MVMemory&) = delete;

  /// The cell of `key`, created empty on first use. Lock-free unless the table overflows.
  KeyCell* cell(const StateKey& key);

  /// What transaction `txn` sees under `cell`: the entry of the highest lower transaction,
  /// and below any deltas there the value they add to.
  static MVRead read(const KeyCell& cell, TxnIndex txn);

  /// Publishes one execution: its writes replace the previous incarnation's, keys that
  /// incarnation wrote and this one did not are removed, and its read set is kept for validation.
  /// Returns true when it wrote a key the previous incarnation did not ("wrote a new path").
  /// A written key that the execution also read is found through its read's cell, not hashed
  /// again (most writes update what the transaction read).
  /// The values are not copied: entries point into `writes`, which the caller keeps where it is
  /// (elements unmoved) until the transaction's next record() has returned, or the memory is
  /// gone. The executor keeps each transaction's latest output for exactly that long.
  /// Deltas are published as delta entries (their amounts copied: no pointer into `deltas`).
  bool record(Version version, ReadSet reads, const WriteSet& writes, const DeltaSet& deltas = {},
              DeltaReads delta_reads = {});

  /// Re-reads every recorded read of `txn`; false when any now observes something else.
  bool validate_read_set(TxnIndex txn) const { return first_stale_read(txn) == nullptr; }
  /// validate_read_set that names the cause: the cell of the first recorded read of `txn` that
  /// now observes something else, or null when every read holds.
  const KeyCell* first_stale_read(TxnIndex txn) const;

  /// Whether `read`, made by `txn` during an execution still in progress, would observe the same
  /// now; false means the execution is doomed. Without a lock when the cell has not changed since
  /// the read (the common case: a VM may ask once per transaction). A hint for that execution
  /// only: a change not yet visible to this thread may be missed, validate_read_set is the check.
  /// `delta_sum`: the read's sum when with_deltas, else unused.
  static bool read_is_current(const ReadDescriptor& read, TxnIndex txn, DeltaSum delta_sum = 0);

  /// Turns the last writes of `txn` into ESTIMATE markers (after its validation failed).
  void convert_writes_to_estimates(TxnIndex txn);

  /// Before any execution: marks `cell` as probably written by `txn` with a declared ESTIMATE,
  /// so a higher transaction reading it waits for txn's first execution, which replaces the
  /// marker with its write or removes it. Called for ascending `txn` from one thread, before
  /// the block's workers start.
  void declare_write(TxnIndex txn, KeyCell* cell);

  /// The block's final writes, one per key, sorted by key: values, and the deltas of keys whose
  /// last entries are deltas. Runs data-parallel on the calling thread's TBB arena; call after
  /// the workers stopped.
  FinalWrites final_writes() const { return final_writes_below(slots_.size()); }
  /// final_writes of transactions 0..txns-1 only: per key, the last of them that wrote it.
  /// Requires those transactions' latest writes to be recorded (none an ESTIMATE).
  FinalWrites final_writes_below(std::size_t txns) const;

 private:
  /// The cells one incarnation wrote: most transactions write 1-4 keys, kept inline.
  using WrittenCells = boost::container::small_vector<KeyCell*, 4>;
  struct alignas(64) TxnSlot {
    mutable tbb::spin_mutex read_mutex;  // guards reads and delta_reads: a validator may race a re-execution
    ReadSet reads;
    DeltaReads delta_reads;
    WrittenCells written;  // cells written by the last recorded incarnation
  };

  KeyCell* overflow_cell(const StateKey& key);
  /// The one definition of a read still holding, shared by validation and read_is_current.
  /// REQUIRES: read.cell->mutex held.
  static bool read_holds(const ReadDescriptor& read, TxnIndex txn, DeltaSum delta_sum);

  // Open addressing over cell pointers, sized for the block; a slot goes from null to a cell
  // exactly once (compare-exchange), so lookups never lock. Keys that find no free slot within
  // kMaxProbe go to the locked overflow map.
  static constexpr std::size_t kMaxProbe = 32;
  std::size_t mask_;
  std::unique_ptr<std::atomic<KeyCell*>[]> table_;
  tbb::spin_mutex overflow_mutex_;
  std::unordered_map<StateKey, std::unique_ptr<KeyCell>, StateKeyHash> overflow_;
  std::vector<TxnSlot> slots_;
};

}  // namespace pel
