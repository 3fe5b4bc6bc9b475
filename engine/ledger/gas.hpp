// The gas schedule. A transaction pays its kind's base cost (a column of PEL_TX_KINDS, the kind
// table in transaction.hpp), a cost per payload byte, per distinct state key read and per key
// written; running past gas_limit fails it.
#pragma once

#include <cstdint>

#include "engine/ledger/transaction.hpp"

namespace pel::ledger::gas {

inline constexpr std::uint64_t kPerPayloadByte = 16;
inline constexpr std::uint64_t kPerRead = 200;    // first read of a key; re-reads are free
inline constexpr std::uint64_t kPerWrite = 1000;  // per key in the transaction's write set

/// The kind's base cost, from the kind table.
constexpr std::uint64_t base(TxKind kind) {
  switch (kind) {
#define PEL_TX_KIND_BASE_GAS(enumerator, code, payload_type, name, base_gas) \
  case TxKind::enumerator:                                                  \
    return base_gas;
    PEL_TX_KINDS(PEL_TX_KIND_BASE_GAS)
#undef PEL_TX_KIND_BASE_GAS
  }
  return 0;
}

}  // namespace pel::ledger::gas
