// The one way pel executes a block (produce, import and replay all come here): the ledger VM on
// a base state under Block-STM, the receipts, the state commitment after the block, and the
// header that execution implies; and the one check of a block's header against it.
// Thread-safety: execute_block uses `executor` (one caller at a time per executor).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/block_result.hpp"
#include "engine/ledger/ledger_vm.hpp"
#include "engine/parallel_executor.hpp"
#include "node/block.hpp"
#include "state/state_store.hpp"

namespace pel {

/// What execute_block does with a block's access list.
enum class AccessListUse : std::uint8_t {
  kRecord,   // making the block: Block-STM runs under an AccessRecorder, the list is encoded
  kExecute,  // a block made elsewhere: execute from its list (no speculation), which proves it
  kCheck,    // the same, but with plain Block-STM, then the list recorded must equal the block's
};

/// What executing a block's transactions gave.
struct BlockExecution {
  BlockResult result;                    // outputs, the block's write set, statistics
  std::vector<ledger::Receipt> receipts;
  /// Each receipt as the VM encoded it (or as the engine's vm_error receipt encodes): what the
  /// receipts root hashes and the block stores, never encoded again.
  std::vector<Bytes> encoded_receipts;
  LatticeHash accumulator;               // the state commitment after the block
  /// Every field execution determines (height, timestamp, beneficiary, the roots, gas, count);
  /// parent hash and producer signature are the caller's.
  BlockHeader header;
  /// The access list's encoding: the one recorded (kRecord), or the block's, proved.
  Bytes access_list;
  std::uint64_t execution_ns = 0;        // Block-STM run and write-set collection
  std::uint64_t roots_ns = 0;            // receipts, state commitment and Merkle roots
};

/// Executes `txns` as the block `context` describes on `base`, whose commitment is
/// `accumulator_before`. `signature_ok[i]` is 1 when txns[i]'s signature verified. `access_list`
/// is the block's (unused with kRecord). Fails when the state could not be read, the block
/// cannot be finished (the VM's finish_block threw), or its access list is not what its
/// transactions do (the error names the transaction and the key).
Result<BlockExecution> execute_block(ParallelExecutor& executor, const ledger::BlockContext& context,
                                     std::span<const ledger::Transaction> txns,
                                     std::span<const std::uint8_t> signature_ok, const ledger::LedgerOptions& options,
                                     const BaseState& base, const LatticeHash& accumulator_before,
                                     AccessListUse use, ByteView access_list = {},
                                     const AccessList* decoded_list = nullptr);

/// `claimed` (a block's header) against `executed` (what execute_block made of its
/// transactions): OK when every field but the producer signature agrees; otherwise names the
/// first that differs, roots first, with both values.
Status check_executed_header(const BlockHeader& claimed, const BlockHeader& executed);

/// The header's transaction count, transactions root and access list root against what the
/// block carries.
Status check_body(const Block& block);

/// The receipts of a block's outputs, decoded and as encoded; a VM error becomes a discarded
/// receipt that says why.
Status receipts_of(const BlockResult& result, std::uint64_t height, std::vector<ledger::Receipt>& receipts,
                   std::vector<Bytes>& encoded);

}  // namespace pel
