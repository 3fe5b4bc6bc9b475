// The VM boundary: the engine runs any VM that executes one transaction against a reader of
// the state just before it, without knowing what the transaction does.
#pragma once

#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "state/types.hpp"

namespace pel {

/// The state a transaction sees: every earlier transaction of the block applied to the block's
/// base state. Reads through it are what the parallel executor records and validates.
/// Not thread-safe: one reader belongs to one execution.
///
/// Under the parallel executor reads are speculative: an execution that is later discarded may
/// see a state that no prefix of the block produces (one key from before a lower transaction's
/// write, another from after it), so values can break any invariant the transactions keep.
/// Only the executions whose reads were all consistent reach the block's result.
class StateReader {
 public:
  virtual ~StateReader() = default;
  virtual std::optional<Value> read(const StateKey& key) = 0;
  /// True once this execution is known to be doomed: it met a transaction that is being
  /// re-executed, or a value it read has since been overwritten. Checked when called (cheap
  /// while nothing this execution read has changed), and stays true; reads then return nothing
  /// and the VM should stop early. Once it has returned true the output is discarded whatever it
  /// is, and the transaction runs again. It may lag: a VM that sees a broken invariant can poll
  /// it, but must not rely on it to end its work.
  virtual bool aborted() const { return false; }
};

/// What one transaction produced.
struct TxnOutput {
  WriteSet writes;      // unique keys (a key named twice turns the output into a vm_error)
  std::string receipt;  // VM-defined encoding, compared byte for byte
  std::string vm_error; // non-empty when the VM threw; then writes and deltas are empty
  /// Adds to counters (see Delta), one per key, none to a key in `writes` (either turns the
  /// output into a vm_error); the engine sorts them by key.
  DeltaSet deltas{};  // initialised, so outputs built as {writes, receipt, vm_error} need not name it
  friend bool operator==(const TxnOutput&, const TxnOutput&) = default;
};

/// The keys a transaction will probably write or add to, declared before it runs
/// (Vm::declare_writes, Vm::declare_adds). Small: most transactions name a handful.
using DeclaredWrites = std::vector<StateKey>;

/// A VM bound to one block's transactions.
/// Contract: execute() is deterministic (same reads give the same output), touches no state
/// except through `reader`, and is called concurrently for different transactions. Throwing is
/// allowed; the engine turns an exception into a TxnOutput with vm_error set. Writing a key twice
/// in one output breaks the contract of TxnOutput::writes and yields a vm_error output too.
/// Since reads may be inconsistent (see StateReader), execute() must bound its own work (gas):
/// it is the VM's only protection against looping or allocating without end on a state that a
/// later validation would have discarded. std::bad_alloc is this node running out of memory,
/// never a receipt: the block fails, unless the execution that threw turns out to be discarded.
/// execute() may use oneTBB algorithms internally.
class Vm {
 public:
  virtual ~Vm() = default;
  virtual TxnOutput execute(TxnIndex txn, StateReader& reader) const = 0;

  /// Optional: appends to `out` the keys transaction `txn` will probably write, from what it
  /// carries (its payload), without reading state. The parallel executor uses them as hints:
  /// a transaction that reads a key a lower transaction declared waits for that transaction's
  /// execution instead of running early and aborting. A wrong or missing key costs speed, never
  /// correctness (validation still checks every read). Keys the transaction only adds to
  /// (TxnOutput::deltas) belong in declare_adds instead: adds conflict with no other add, and
  /// a declared write makes every later transaction naming it wait. Called concurrently,
  /// before execution.
  virtual void declare_writes(TxnIndex txn, DeclaredWrites& out) const {
    (void)txn;
    (void)out;
  }
  /// Optional: appends the keys transaction `txn` will probably only add to (its deltas), from
  /// its payload. The parallel executor does not wait on them (adds do not conflict); an access
  /// list's encoding refers to them, as to declared writes, instead of spelling them out.
  virtual void declare_adds(TxnIndex txn, DeclaredWrites& out) const {
    (void)txn;
    (void)out;
  }

  /// Required of a VM whose outputs carry deltas: `key`'s value with `total` added to its
  /// counter, `base` being the value before the adds (nullopt: none, or deleted). Throws when it
  /// cannot: `base` does not decode, or the counter would pass its bound. Deterministic, called
  /// concurrently. Every executor applies a key's deltas the same way: summed (DeltaSum) since
  /// the key's last written value and applied to it at once, when a transaction reads the key
  /// (each read applies the whole sum so far, a read writes nothing) or at the end of the
  /// block; a value written over them drops them unapplied. So the results, and whether an
  /// application fails and where, are the same on every executor, even for an apply_delta that
  /// is not additive (apply(apply(b, x), y) != apply(b, x + y)); when one fails, the block
  /// cannot be made (BlockResult::finish_error), and a transaction whose read met it sees its
  /// read throw. A bound the VM keeps by construction (the ledger: every balance is at most the
  /// coin's supply, which fits 64 bits) makes that failure unreachable on valid blocks.
  virtual Value apply_delta(const StateKey& key, const std::optional<Value>& base, DeltaSum total) const {
    (void)key;
    (void)base;
    (void)total;
    throw std::logic_error("this VM writes no deltas");
  }

  /// Writes that depend on the whole block (a fee credit to the block's beneficiary), applied
  /// after the last transaction. `state` is the state after every transaction.
  virtual WriteSet finish_block(std::span<const TxnOutput> outputs, StateReader& state) const {
    (void)outputs;
    (void)state;
    return {};
  }
};

}  // namespace pel
