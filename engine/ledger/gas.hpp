// The gas schedule, in one place. A transaction pays its kind's base cost, a cost per payload
// byte, per distinct state key read and per key written; running past gas_limit fails it.
#pragma once

#include <cstdint>

#include "engine/ledger/transaction.hpp"

namespace pel::ledger::gas {

inline constexpr std::uint64_t kPerPayloadByte = 16;
inline constexpr std::uint64_t kPerRead = 200;    // first read of a key; re-reads are free
inline constexpr std::uint64_t kPerWrite = 1000;  // per key in the transaction's write set

/// The kind's base cost: roughly what its logic costs beyond reads and writes.
constexpr std::uint64_t base(TxKind kind) {
  switch (kind) {
    case TxKind::kTransfer: return 2000;
    case TxKind::kTokenMint: return 3000;
    case TxKind::kTokenTransfer: return 3000;
    case TxKind::kSwap: return 5000;
    case TxKind::kAddLiquidity: return 6000;
    case TxKind::kRemoveLiquidity: return 6000;
    case TxKind::kNftMint: return 4000;
    case TxKind::kNftTransfer: return 4000;
    case TxKind::kStake: return 4000;
    case TxKind::kUnstake: return 4000;
    case TxKind::kClaimRewards: return 3000;
    case TxKind::kVote: return 3000;
    case TxKind::kAirdrop: return 3000;
  }
  return 0;
}

}  // namespace pel::ledger::gas
