// The native ledger VM: executes one block's signed ledger transactions (transaction.hpp) on
// the state layout of state_keys.hpp / records.hpp, with gas, fees and receipts.
//
// Outcomes (the receipt's status):
//   - discarded, nothing written, no gas or fee: bad signature (signature_ok[i] == 0), wrong
//     chain id, malformed payload, nonce mismatch;
//   - failed, only the sender's account written (nonce + 1, balance - fee): out of gas,
//     insufficient balance or stake, slippage, an unknown pool/token/collection/NFT/validator/
//     proposal/delegation, not the owner or issuer, arithmetic overflow, a corrupt record. A
//     sender who cannot cover gas_limit * max_fee_per_gas up front fails too, paying the
//     intrinsic gas (base + payload) or all it has if less: the nonce still moves, so a
//     producer's nonce bookkeeping does not depend on balances;
//   - success: the kind's writes plus the sender's account.
// The fee (gas_used * max_fee_per_gas) leaves the sender during the transaction and reaches the
// beneficiary only in finish_block, once per block: crediting it per transaction would make
// every transaction write one key and serialise the block.
//
// Thread-safety: execute() is const, keeps all its state on the stack and is called
// concurrently; the VM holds spans, so the transactions and signature flags must outlive it.
#pragma once

#include <cstdint>
#include <span>

#include "crypto/address.hpp"
#include "engine/declarations.hpp"
#include "engine/ledger/transaction.hpp"
#include "engine/vm.hpp"

namespace pel::ledger {

struct BlockContext {
  std::uint64_t height = 0;
  std::uint64_t timestamp = 0;
  Address beneficiary;
  std::uint32_t chain_id = 1;
};

struct LedgerOptions {
  /// Extra deterministic compute per transaction: this many rounds of SHA-256 over the values
  /// it read, folded into receipt.work_digest so nothing can skip it (the benchmark's --work).
  std::uint32_t work = 0;
};

/// The declarations of a block of `txns` (LedgerVm::declare_writes and declare_adds), each
/// payload decoded once, without a VM: what the access-list codec needs.
BlockDeclarations declare_block(std::span<const Transaction> txns);

class LedgerVm final : public Vm {
 public:
  /// signature_ok[i] == 1 when txns[i]'s signature verified (verify_signatures); same length.
  LedgerVm(const BlockContext& ctx, std::span<const Transaction> txns,
           std::span<const std::uint8_t> signature_ok, LedgerOptions options = {});

  /// The receipt is Receipt::encode(); writes are one per key.
  TxnOutput execute(TxnIndex txn, StateReader& reader) const override;
  /// From the payload alone: the sender's account, and the keys its kind writes that the
  /// payload names as ones it writes a value to (a swap's pool, a vote's vote record, a token
  /// transfer's sender balance, ...). Keys it only credits (a transfer's recipient, a
  /// validator's total stake, a tally) are adds, declared by declare_adds; keys known only
  /// from state are left out (a pool's token, a collection's next id, an NFT's creator, the
  /// tally a re-vote takes its old weight from). A transaction that will be discarded (bad
  /// signature, malformed payload) still declares what it names: a hint, never checked.
  void declare_writes(TxnIndex txn, DeclaredWrites& out) const override;
  /// From the payload alone: the keys its kind credits without reading them (a transfer's or
  /// an airdrop's recipients, a mint's, a stake's validator total, a vote's tally, an LP
  /// deposit's shares). Deltas, unless the transaction also reads the key (a self-transfer).
  void declare_adds(TxnIndex txn, DeclaredWrites& out) const override;
  /// Credits to balances the transaction did not read (a transfer's recipient, an airdrop's,
  /// a creator's royalty, a minted amount, a validator's total stake, a choice's tally) are
  /// deltas; this applies them: `key` is an account (its coin balance), a token or LP balance,
  /// a validator's total stake or a tally.
  Value apply_delta(const StateKey& key, const std::optional<Value>& base, DeltaSum total) const override;
  /// Credits the sum of the block's fees to ctx.beneficiary's account.
  WriteSet finish_block(std::span<const TxnOutput> outputs, StateReader& state) const override;

 private:
  BlockContext ctx_;
  std::span<const Transaction> txns_;
  std::span<const std::uint8_t> signature_ok_;
  LedgerOptions options_;
};

}  // namespace pel::ledger
