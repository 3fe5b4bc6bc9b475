#include "node/replay.hpp"

#include <chrono>
#include <optional>

#include "engine/executor_common.hpp"
#include "node/block_execution.hpp"
#include "node/prepared_block.hpp"
#include "node/read_ahead.hpp"

namespace pel {
namespace {

Status mismatch(std::uint64_t height, const char* what, const Hash256& header, const Hash256& computed) {
  return error(ErrorCode::kVerification, "height " + std::to_string(height) + ": " + what +
                                             " mismatch: header " + header.hex() + ", replay " + computed.hex());
}

}  // namespace

Result<ReplaySummary> replay(const Chain& chain, const ReplayOptions& options) {
  const std::uint64_t from = std::max<std::uint64_t>(1, options.from);
  const std::uint64_t to = options.to.value_or(chain.head().height);
  if (to > chain.head().height) {
    return error(ErrorCode::kInvalidArgument, "replay --to " + std::to_string(to) + " is beyond the head " +
                                                  std::to_string(chain.head().height));
  }
  auto start = std::chrono::steady_clock::now();
  ReplaySummary summary;
  summary.signatures = options.signatures;
  summary.access_lists = options.use_access_lists;

  // The state replay reads: the stored state at from-1, read in place, under the changes the
  // replayed blocks made, held in memory.
  auto start_state = chain.state_at(from - 1);
  if (!start_state.is_ok()) return start_state.status().with_context("replay --from " + std::to_string(from));
  std::unique_ptr<HistoricalState> stored_state = std::move(start_state).value();
  auto scratch = std::make_unique<ChangedState>(*stored_state);
  auto accumulator_or = chain.accumulator_at(from - 1);
  if (!accumulator_or.is_ok()) return accumulator_or.status();
  LatticeHash accumulator = *accumulator_or;
  auto parent = chain.block_at(from - 1);
  if (!parent.is_ok()) return parent.status();
  if (accumulator.digest() != parent->header.state_root) {
    return mismatch(from - 1, "stored state commitment", parent->header.state_root, accumulator.digest());
  }
  Hash256 parent_hash = parent->header.hash();

  // A two-stage pipeline: while block h executes and its roots are checked, a second thread
  // loads block h+1 and checks its signatures (or reads the stored verdicts).
  auto load = [&chain, &options](std::uint64_t height) -> Result<PreparedBlock> {
    auto block = chain.block_at(height);
    if (!block.is_ok()) return block.status();
    PreparedBlock loaded = prepare_block(std::move(block).value(), options.signatures, options.threads,
                                         options.use_access_lists ? &chain : nullptr);
    const auto& txns = loaded.block.transactions;
    if (options.signatures == SignaturePolicy::kAssumeValid) {
      // Assume valid: the verdicts of the signature check made at import, as its receipts kept them.
      auto stored = chain.receipts_at(height);
      if (!stored.is_ok()) return stored.status();
      if (stored->size() != txns.size()) {
        return error(ErrorCode::kCorruption, "height " + std::to_string(height) + ": stored receipts do not match the block");
      }
      for (const ledger::Receipt& r : *stored) {
        loaded.signature_ok.push_back(r.status == ledger::TxStatus::kDiscarded && r.reason == ledger::kBadSignatureReason ? 0 : 1);
      }
    }
    return loaded;
  };

  ParallelExecutor executor(ParallelOptions{.threads = options.threads});
  ReadAhead<Result<PreparedBlock>> ahead(load);  // joined on every way out, errors included
  Result<PreparedBlock> next =
      from <= to ? load(from) : Result<PreparedBlock>(error(ErrorCode::kNotFound, "empty range"));
  for (std::uint64_t height = from; height <= to; ++height) {
    if (!next.is_ok()) return next.status();
    PreparedBlock current = std::move(next).value();
    // Around a benchmark's executions, the next block's signature check waits until they are
    // timed: run beside only some of them, it would take their cores.
    if (height < to && !options.around_execution) ahead.start(height + 1);

    const BlockHeader& h = current.block.header;
    const auto& txns = current.block.transactions;
    const std::vector<std::uint8_t>& signature_ok = current.signature_ok;
    const std::string where = "height " + std::to_string(height);
    PEL_TRY(check_extends(h, height - 1, parent_hash).with_context(where));
    PEL_TRY(check_body(current.block).with_context(where));

    ledger::BlockContext ctx{.height = height, .timestamp = h.timestamp, .beneficiary = h.beneficiary,
                             .chain_id = chain.genesis().chain_id};
    AccessListInput list_input = CheckAccessList{.encoded = current.block.access_list};
    if (options.use_access_lists) {
      list_input = ExecuteAccessList{.encoded = current.block.access_list,
                                     .decoded = current.access_list ? &current.access_list->list() : nullptr};
    }
    std::unique_ptr<BlockReads> gathered;
    if (current.access_list && options.prefetch_readers > 0) {
      // The listed keys, from the replayed blocks' changes where they hold them, the others
      // read from the stored state at once.
      auto changed = [&scratch](const StateKey& key) -> std::optional<std::optional<Value>> {
        if (const std::optional<Value>* value = scratch->find_change(key)) return *value;
        return std::nullopt;
      };
      gathered = BlockReads::gather(*scratch, current.access_list->list().keys, changed, *stored_state,
                                    options.prefetch_readers);
    }
    const BaseState& before = gathered ? static_cast<const BaseState&>(*gathered) : *scratch;
    Result<BlockExecution> execution = error(ErrorCode::kAborted, where + ": around_execution never executed the block");
    auto execute = [&]() -> const BlockResult* {
      execution = execute_block(executor, {.context = ctx,
                                           .transactions = txns,
                                           .signature_ok = signature_ok,
                                           .ledger = chain.options().ledger,
                                           .base = before,
                                           .accumulator_before = accumulator,
                                           .access_list = list_input});
      return execution.is_ok() ? &execution->result : nullptr;
    };
    if (options.around_execution) {
      ledger::LedgerVm vm(ctx, txns, signature_ok, chain.options().ledger);
      PEL_TRY(options.around_execution({height, vm, txns.size(), before}, execute).with_context(where));
      if (height < to) ahead.start(height + 1);
    } else {
      execute();
    }
    if (!execution.is_ok()) return execution.status();
    const BlockResult& result = execution->result;
    summary.parallel_exec_s += static_cast<double>(execution->execution_ns) * 1e-9;
    summary.stats += result.stats;
    summary.access_list_bytes += current.block.access_list.size();
    summary.block_bytes += current.block.encode().size();
    PEL_TRY(check_executed_header(h, execution->header).with_context(where));
    // Last: a header whose roots match what execution gives, yet that its producer did not sign
    // (an edited timestamp or beneficiary), is refused too.
    PEL_TRY(chain.check_header(h).with_context(where));
    accumulator = execution->accumulator;
    gathered.reset();  // its values are those before the block
    scratch->apply(result.writes);
    if (scratch->size() > options.max_replayed_changes) {
      // Bounded memory: continue from the stored state at this height, once it is checked to
      // hold every value replay computed since the last rebase.
      auto rebased = chain.state_at(height);
      if (!rebased.is_ok()) return rebased.status();
      Status differs;
      scratch->for_each_change([&](const StateKey& key, const std::optional<Value>& value) {
        if (differs.is_ok() && (*rebased)->get(key) != value) {
          differs = error(ErrorCode::kVerification, where + ": the stored state differs from the replayed one at key " + key.hex());
        }
      });
      PEL_TRY((*rebased)->take_read_error().with_context(where));
      PEL_TRY(differs);
      scratch.reset();
      stored_state = std::move(rebased).value();
      scratch = std::make_unique<ChangedState>(*stored_state);
    }

    parent_hash = h.hash();
    if (ahead.started()) next = ahead.take();
    summary.blocks += 1;
    summary.transactions += txns.size();
    if (options.on_block) {
      options.on_block({height, from, to, summary.transactions,
                        static_cast<double>(elapsed_ns(start)) * 1e-9});
    }
  }
  summary.seconds = static_cast<double>(elapsed_ns(start)) * 1e-9;
  return summary;
}

}  // namespace pel
