// The one way pel executes a block (produce, import and replay all come here): the ledger VM on
// a base state under Block-STM, the receipts, the state commitment after the block, and the
// header that execution implies; and the one check of a block's header against it.
// Thread-safety: execute_block uses `executor` (one caller at a time per executor).
#pragma once

#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "engine/block_result.hpp"
#include "engine/ledger/ledger_vm.hpp"
#include "engine/parallel_executor.hpp"
#include "node/block.hpp"
#include "state/state_store.hpp"

namespace pel {

/// Making the block: Block-STM runs under an AccessRecorder, and the list is encoded.
struct RecordAccessList {};
/// A block made elsewhere: execute from its list (no speculation), which proves it.
struct ExecuteAccessList {
  ByteView encoded;                    // the block's list
  const AccessList* decoded = nullptr;  // `encoded` decoded already (for this block), or null
};
/// A block made elsewhere, run by plain Block-STM: the list it records must equal `encoded`.
struct CheckAccessList {
  ByteView encoded;
};
/// What execute_block does with a block's access list.
using AccessListInput = std::variant<RecordAccessList, ExecuteAccessList, CheckAccessList>;

/// Everything one block's execution reads. The referenced values must outlive the call.
struct BlockInputs {
  ledger::BlockContext context;
  std::span<const ledger::Transaction> transactions;
  std::span<const std::uint8_t> signature_ok;  // signature_ok[i] is 1 when transaction i's verified
  const ledger::LedgerOptions& ledger;
  const BaseState& base;                 // the state before the block
  const LatticeHash& accumulator_before;  // its commitment
  AccessListInput access_list;
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

/// Executes the block `in` describes. Fails when the state could not be read, the block cannot
/// be finished (the VM's finish_block threw), or its access list is not what its transactions
/// do (the error names the transaction and the key).
Result<BlockExecution> execute_block(ParallelExecutor& executor, const BlockInputs& in);

/// That `header` comes right after the block at `parent_height` whose hash is `parent_hash`:
/// the one rule import, commit and replay apply. Out of order is kInvalidArgument, another
/// parent kVerification; the error names both heights or both hashes (the caller adds where).
Status check_extends(const BlockHeader& header, std::uint64_t parent_height, const Hash256& parent_hash);

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
