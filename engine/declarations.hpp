// A block's declarations: the keys each transaction said it will write and add to, asked once
// per block and kept flat, for everything that reads them (Block-STM's markers, the access-list
// codec).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/vm.hpp"

namespace pel {

/// Immutable once built; any thread may read it.
class BlockDeclarations {
 public:
  /// Per transaction, `declare(txn, writes, adds)` fills the keys it declares (both start
  /// empty); called concurrently for different transactions, once each.
  using Declare = std::function<void(TxnIndex txn, DeclaredWrites& writes, DeclaredWrites& adds)>;
  static BlockDeclarations build(std::size_t num_txns, const Declare& declare);
  /// The VM's own: Vm::declare_writes and Vm::declare_adds, once per transaction.
  static BlockDeclarations of(const Vm& vm, std::size_t num_txns);

  std::size_t transactions() const { return split_.size(); }
  std::span<const StateKey> writes(TxnIndex txn) const { return span(begin_[txn], split_[txn]); }
  std::span<const StateKey> adds(TxnIndex txn) const { return span(split_[txn], begin_[txn + 1]); }
  /// Its writes, then its adds: what an access list's references may name for the transaction.
  std::span<const StateKey> keys(TxnIndex txn) const { return span(begin_[txn], begin_[txn + 1]); }

 private:
  std::span<const StateKey> span(std::size_t from, std::size_t to) const {
    return {keys_.data() + from, keys_.data() + to};
  }
  std::vector<StateKey> keys_;
  std::vector<std::size_t> begin_{0};  // per transaction, then the end
  std::vector<std::size_t> split_;     // per transaction: where its adds begin
};

}  // namespace pel
