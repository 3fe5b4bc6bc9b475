// The VM boundary: the engine runs any VM that executes one transaction against a reader of
// the state just before it, without knowing what the transaction does.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "state/types.hpp"

namespace pel {

/// The state a transaction sees: every earlier transaction of the block applied to the block's
/// base state. Reads through it are what the parallel executor records and validates.
/// Not thread-safe: one reader belongs to one execution.
class StateReader {
 public:
  virtual ~StateReader() = default;
  virtual std::optional<Value> read(const StateKey& key) = 0;
  /// True once this execution is known to be useless (it met a transaction that is being
  /// re-executed); reads then return nothing and the VM may stop early. Its output is discarded.
  virtual bool aborted() const { return false; }
};

/// What one transaction produced.
struct TxnOutput {
  WriteSet writes;      // unique keys; applied in order
  std::string receipt;  // VM-defined encoding, compared byte for byte
  std::string vm_error; // non-empty when the VM threw; then writes is empty
  friend bool operator==(const TxnOutput&, const TxnOutput&) = default;
};

/// A VM bound to one block's transactions.
/// Contract: execute() is deterministic (same reads give the same output), touches no state
/// except through `reader`, and is called concurrently for different transactions. Throwing is
/// allowed; the engine turns an exception into a TxnOutput with vm_error set.
class Vm {
 public:
  virtual ~Vm() = default;
  virtual TxnOutput execute(TxnIndex txn, StateReader& reader) const = 0;

  /// Writes that depend on the whole block (a fee credit to the block's beneficiary), applied
  /// after the last transaction. `state` is the state after every transaction.
  virtual WriteSet finish_block(std::span<const TxnOutput> outputs, StateReader& state) const {
    (void)outputs;
    (void)state;
    return {};
  }
};

}  // namespace pel
