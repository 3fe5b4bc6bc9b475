#include "bench/harness/replay_comparison.hpp"

#include <chrono>
#include <optional>

#include "engine/executor_common.hpp"
#include "engine/parallel_executor.hpp"
#include "engine/sequential_executor.hpp"

namespace pel::bench {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return static_cast<double>(elapsed_ns(start)) * 1e-9;
}

bool same_result(const BlockResult& a, const BlockResult& b) {
  return a.outputs == b.outputs && a.writes == b.writes && a.finish_error == b.finish_error;
}

}  // namespace

Result<ReplayComparison> compare_replay(const Chain& chain, ReplayOptions options) {
  ReplayComparison out;
  // An executor of its own, so the hot keys and losses it learns are its own.
  ParallelExecutor block_stm(ParallelOptions{.threads = options.threads});
  const bool listed = options.use_access_lists;
  options.around_execution = [&](const ReplayedBlock& block,
                                 const std::function<const BlockResult*()>& execute) -> Status {
    std::optional<BlockResult> sequential, plain;
    auto run_others = [&] {
      const auto t1 = std::chrono::steady_clock::now();
      sequential = execute_sequential(block.vm, block.transactions, block.state);
      out.sequential_exec_s += seconds_since(t1);
      if (!listed) return;
      const auto t2 = std::chrono::steady_clock::now();
      plain = block_stm.execute(block.vm, block.transactions, block.state);
      out.block_stm_exec_s += seconds_since(t2);
      if (fallback_loop_ran(plain->stats.path)) ++out.block_stm_loop_blocks;
    };
    const bool others_first = block.height % 2 == 0;
    if (others_first) run_others();
    const BlockResult* replayed = execute();
    if (replayed == nullptr) return Status::ok();  // replay reports its own failure
    if (!others_first) run_others();
    for (const std::optional<BlockResult>* other : {&sequential, &plain}) {
      if (*other && !same_result(**other, *replayed)) {
        return error(ErrorCode::kVerification, "parallel and sequential execution differ");
      }
    }
    return Status::ok();
  };
  auto summary = replay(chain, options);
  if (!summary.is_ok()) return summary.status();
  out.summary = std::move(summary).value();
  if (!listed) out.block_stm_exec_s = out.summary.parallel_exec_s;
  return out;
}

}  // namespace pel::bench
