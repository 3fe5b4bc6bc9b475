// What a ledger transaction did, as the VM reports it: the receipt is TxnOutput::receipt
// (encode()), and the block's receipts root is the Merkle root of the receipts' hashes.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/bytes.hpp"
#include "crypto/hash.hpp"
#include "crypto/result.hpp"

namespace pel::ledger {

enum class TxStatus : std::uint8_t {
  kSuccess = 0,
  kFailed = 1,     // gas charged and nonce bumped; nothing else changed
  kDiscarded = 2,  // rejected before execution: no change at all, no gas, no fee
};

/// Reasons longer than this are rejected by decode (the VM's are a line long).
inline constexpr std::size_t kMaxReasonBytes = 4096;

/// The reason a transaction with an invalid signature is discarded for. Replay with signature
/// checks skipped ("assume valid") reads it back from stored receipts.
inline constexpr std::string_view kBadSignatureReason = "bad signature";

struct Receipt {
  TxStatus status = TxStatus::kSuccess;
  std::uint64_t gas_used = 0;
  std::uint64_t fee = 0;   // gas_used * max_fee_per_gas, capped at what the sender had
  std::string reason;      // empty on success: why it failed or was discarded
  Hash256 work_digest;     // zero unless LedgerOptions::work > 0

  /// status(u8) gas_used(varint) fee(varint) reason(varint length + bytes) then a u8 flag,
  /// 1 followed by the 32-byte work digest or 0 when the digest is zero (one encoding each).
  Bytes encode() const;
  /// Strict: truncation, trailing bytes, an unknown status, a non-canonical digest flag fail.
  static Result<Receipt> decode(ByteView bytes);
  /// sha256(encode()).
  Hash256 hash() const;
  friend bool operator==(const Receipt&, const Receipt&) = default;
};

}  // namespace pel::ledger
