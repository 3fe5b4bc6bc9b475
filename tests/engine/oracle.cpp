#include "tests/engine/oracle.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <sstream>

#include "engine/access_list.hpp"
#include "tests/support/watchdog.hpp"

namespace pel::testing {

void expect_same(const BlockResult& expected, const BlockResult& actual, const std::string& what) {
  ASSERT_EQ(expected.finish_error, actual.finish_error) << what;
  ASSERT_EQ(expected.outputs.size(), actual.outputs.size()) << what;
  for (std::size_t i = 0; i < expected.outputs.size(); ++i) {
    const TxnOutput& e = expected.outputs[i];
    const TxnOutput& a = actual.outputs[i];
    ASSERT_TRUE(e == a) << what << " txn " << i << ": receipt '" << e.receipt << "' vs '" << a.receipt
                        << "', vm_error '" << e.vm_error << "' vs '" << a.vm_error << "', " << e.writes.size()
                        << " vs " << a.writes.size() << " writes, " << e.deltas.size() << " vs "
                        << a.deltas.size() << " deltas";
  }
  ASSERT_EQ(expected.writes.size(), actual.writes.size()) << what;
  for (std::size_t i = 0; i < expected.writes.size(); ++i) {
    ASSERT_EQ(expected.writes[i], actual.writes[i]) << what << " write " << i << " key " << expected.writes[i].key.hex();
  }
}

ExecutorOracle::ExecutorOracle(int threads) : threads_(threads) {
  modes_.push_back({"defaults", std::make_unique<ParallelExecutor>(ParallelOptions{.threads = threads}), false, {}});
  using Declarations = ParallelOptions::Declarations;
  for (Declarations declarations : {Declarations::kOff, Declarations::kHotKeys, Declarations::kAll}) {
    for (double fallback : {0.0, 1e-9, 1e9}) {
      std::ostringstream name;
      name << "block-stm declarations=" << static_cast<int>(declarations) << " fallback=" << fallback;
      Mode mode{name.str(), std::make_unique<ParallelExecutor>(ParallelOptions{.threads = threads,
                                                                               .min_parallel_txns = 2,
                                                                               .always_block_stm = true,
                                                                               .fallback_speedup = fallback,
                                                                               .declarations = declarations}),
                false, {}};
      if (fallback == 0) mode.path = ExecutionPath::kBlockStm;
      modes_.push_back(std::move(mode));
    }
  }
  modes_.push_back({"listed", std::make_unique<ParallelExecutor>(ParallelOptions{.threads = threads}), true,
                    ExecutionPath::kListed});
}

BlockResult ExecutorOracle::check(const Vm& vm, std::size_t size, const BaseState& base, const std::string& what) {
  const BlockResult expected = execute_sequential(vm, size, base);
  for (Mode& mode : modes_) {
    const std::string where = what + " threads=" + std::to_string(threads_) + " " + mode.name;
    Watchdog dog(std::chrono::seconds(60), where);
    std::optional<BlockResult> actual;
    if (!mode.listed) {
      actual = mode.executor->execute(vm, size, base);
    } else {
      AccessRecorder recorder(vm, size);
      const BlockResult recorded = execute_sequential(recorder, size, base);
      Result<BlockResult> listed = mode.executor->execute_listed(vm, size, base, recorder.take(recorded.outputs));
      EXPECT_TRUE(listed.is_ok()) << where << ": " << listed.status().message();
      if (listed.is_ok()) actual = std::move(listed).value();
    }
    if (actual) {
      expect_same(expected, *actual, where);
      if (mode.path) {
        EXPECT_EQ(path_name(actual->stats.path), std::string(path_name(*mode.path))) << where;
      }
    }
    if (::testing::Test::HasFatalFailure()) break;
  }
  return expected;
}

}  // namespace pel::testing
