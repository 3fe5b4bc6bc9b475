#include "node/block_execution.hpp"

#include <chrono>
#include <optional>

#include "engine/executor_common.hpp"

namespace pel {
namespace {

Status mismatch(const char* what, const std::string& claimed, const std::string& executed) {
  return error(ErrorCode::kVerification,
               std::string(what) + " mismatch: header " + claimed + ", executed " + executed);
}

}  // namespace

Status receipts_of(const BlockResult& result, std::uint64_t height, std::vector<ledger::Receipt>& receipts,
                   std::vector<Bytes>& encoded) {
  receipts.reserve(result.outputs.size());
  encoded.reserve(result.outputs.size());
  for (std::size_t i = 0; i < result.outputs.size(); ++i) {
    const TxnOutput& out = result.outputs[i];
    if (!out.vm_error.empty()) {
      // The VM broke its own contract; the transaction changed nothing, and says why.
      ledger::Receipt r;
      r.status = ledger::TxStatus::kDiscarded;
      r.reason = out.vm_error;
      encoded.push_back(r.encode());
      receipts.push_back(std::move(r));
      continue;
    }
    const ByteView bytes = as_bytes(out.receipt);
    auto r = ledger::Receipt::decode(bytes);
    if (!r.is_ok()) {
      return r.status().with_context("height " + std::to_string(height) + " transaction " +
                                     std::to_string(i) + ": receipt");
    }
    receipts.push_back(std::move(r).value());
    encoded.emplace_back(bytes.begin(), bytes.end());
  }
  return Status::ok();
}

namespace {

// Runs the block on `executor` as `list` says, into out.result and out.access_list.
Status run_block(ParallelExecutor& executor, const ledger::LedgerVm& vm, const BlockInputs& in,
                 const std::string& where, BlockExecution& out) {
  const std::size_t n = in.transactions.size();
  if (const auto* execute = std::get_if<ExecuteAccessList>(&in.access_list)) {
    std::optional<AccessList> decoded_here;
    const AccessList* list = execute->decoded;
    if (list == nullptr) {
      auto decoded = decode_access_list(execute->encoded, ledger::declare_block(in.transactions));
      if (!decoded.is_ok()) return decoded.status().with_context(where);
      list = &decoded_here.emplace(std::move(decoded).value());
    }
    auto result = executor.execute_listed(vm, n, in.base, *list);
    // A read error can make execution look unlike its list: report the database first.
    PEL_TRY(in.base.take_read_error().with_context(where));
    if (!result.is_ok()) return result.status().with_context(where + ": access list");
    out.result = std::move(result).value();
    out.access_list.assign(execute->encoded.begin(), execute->encoded.end());
    return Status::ok();
  }
  // The block's declarations, made once: for Block-STM's markers (when they are on) and the
  // list's encoding or decoding.
  const BlockDeclarations declared = ledger::declare_block(in.transactions);
  AccessRecorder recorder(vm, n);
  out.result = executor.execute(recorder, n, in.base, &declared);
  AccessList recorded = recorder.take(out.result.outputs);
  if (std::holds_alternative<RecordAccessList>(in.access_list)) {
    auto encoded = encode_access_list(recorded, declared);
    if (!encoded.is_ok()) return encoded.status().with_context(where);
    out.access_list = std::move(encoded).value();
    return Status::ok();
  }
  const ByteView claimed = std::get<CheckAccessList>(in.access_list).encoded;
  auto list = decode_access_list(claimed, declared);
  if (!list.is_ok()) return list.status().with_context(where);
  PEL_TRY(out.result.read_error.with_context(where));
  PEL_TRY(list->check_matches(recorded).with_context(where + ": access list"));
  out.access_list.assign(claimed.begin(), claimed.end());
  return Status::ok();
}

}  // namespace

Result<BlockExecution> execute_block(ParallelExecutor& executor, const BlockInputs& in) {
  const ledger::BlockContext& context = in.context;
  const BaseState& base = in.base;
  const std::span<const ledger::Transaction> txns = in.transactions;
  const std::string where = "height " + std::to_string(context.height);
  BlockExecution out;
  auto t0 = std::chrono::steady_clock::now();
  ledger::LedgerVm vm(context, txns, in.signature_ok, in.ledger);
  PEL_TRY(run_block(executor, vm, in, where, out));
  PEL_TRY(out.result.read_error.with_context(where));
  if (!out.result.finish_error.empty()) {
    return error(ErrorCode::kInvalidArgument, where + ": the block cannot be finished: " + out.result.finish_error);
  }
  out.execution_ns = elapsed_ns(t0);

  auto t1 = std::chrono::steady_clock::now();
  PEL_TRY(receipts_of(out.result, context.height, out.receipts, out.encoded_receipts));
  out.accumulator = in.accumulator_before;
  out.accumulator.combine(commitment_delta(out.result.writes, base));
  PEL_TRY(base.take_read_error().with_context(where));
  BlockHeader& h = out.header;
  h.height = context.height;
  h.timestamp = context.timestamp;
  h.beneficiary = context.beneficiary;
  h.transactions_root = transactions_root(txns);
  h.receipts_root = receipts_root(out.encoded_receipts);
  h.state_root = out.accumulator.digest();
  h.access_list_root = sha256(out.access_list);
  for (const auto& r : out.receipts) h.gas_used += r.gas_used;
  h.transaction_count = static_cast<std::uint32_t>(txns.size());
  out.roots_ns = elapsed_ns(t1);
  return out;
}

Status check_extends(const BlockHeader& header, std::uint64_t parent_height, const Hash256& parent_hash) {
  if (header.height != parent_height + 1) {
    return error(ErrorCode::kInvalidArgument, "out of order: block " + std::to_string(header.height) +
                                                  " where block " + std::to_string(parent_height + 1) + " comes next");
  }
  if (header.parent_hash != parent_hash) {
    return error(ErrorCode::kVerification, "parent hash " + header.parent_hash.hex() + " is not block " +
                                               std::to_string(parent_height) + "'s hash " + parent_hash.hex());
  }
  return Status::ok();
}

Status check_executed_header(const BlockHeader& claimed, const BlockHeader& executed) {
  if (executed.state_root != claimed.state_root) {
    return mismatch("state root", claimed.state_root.hex(), executed.state_root.hex());
  }
  if (executed.receipts_root != claimed.receipts_root) {
    return mismatch("receipts root", claimed.receipts_root.hex(), executed.receipts_root.hex());
  }
  if (executed.gas_used != claimed.gas_used) {
    return mismatch("gas used", std::to_string(claimed.gas_used), std::to_string(executed.gas_used));
  }
  BlockHeader expected = executed;
  expected.parent_hash = claimed.parent_hash;
  expected.producer_signature = claimed.producer_signature;
  if (!(expected == claimed)) return error(ErrorCode::kVerification, "header mismatch");
  return Status::ok();
}

Status check_body(const Block& block) {
  if (block.header.transaction_count != block.transactions.size()) {
    return error(ErrorCode::kVerification, "transaction count mismatch: header " +
                                               std::to_string(block.header.transaction_count) + ", block " +
                                               std::to_string(block.transactions.size()));
  }
  const Hash256 root = transactions_root(block.transactions);
  if (root != block.header.transactions_root) {
    return mismatch("transactions root", block.header.transactions_root.hex(), root.hex());
  }
  const Hash256 list_root = sha256(block.access_list);
  if (list_root != block.header.access_list_root) {
    return mismatch("access list root", block.header.access_list_root.hex(), list_root.hex());
  }
  return Status::ok();
}

}  // namespace pel
