// The contention fallback's policy on its own: no threads, no clocks, every measurement handed in.
// Its patterns are what contention_fallback_test.cpp then sees on real runs.
#include <gtest/gtest.h>

#include <string>

#include "engine/adaptive_policy.hpp"

namespace pel::testing {
namespace {

using Plan = AdaptivePolicy::Plan;
constexpr double kPrefixNs = 100;  // the loop's prefix: 100 ns a transaction
constexpr std::size_t kTxns = 1000;

// Plays `blocks` blocks: the loop's runs take exactly what the prefix says (ratio 1), and
// Block-STM's blocks end as `block_stm` says ('w': won, finished at 2x the loop; 's': stopped
// inside the block). One character per block: T Block-STM, l loop after a loss, p probe.
std::string play(AdaptivePolicy& policy, int blocks, char block_stm) {
  std::string pattern;
  for (int b = 0; b < blocks; ++b) {
    switch (policy.plan_block()) {
      case Plan::kBlockStm:
        pattern += 'T';
        if (block_stm == 's') {
          policy.block_lost();
        } else {
          EXPECT_FALSE(policy.block_stm_finished(static_cast<std::uint64_t>(kPrefixNs * kTxns / 2), kTxns, kPrefixNs));
        }
        break;
      case Plan::kLoopAfterLoss:
        pattern += 'l';
        policy.loop_ran_block(kPrefixNs, static_cast<std::uint64_t>(kPrefixNs * kTxns), kTxns);
        break;
      case Plan::kLoopProbe:
        pattern += 'p';
        policy.loop_ran_block(kPrefixNs, static_cast<std::uint64_t>(kPrefixNs * kTxns), kTxns);
        break;
    }
  }
  return pattern;
}

TEST(AdaptivePolicy, DisabledEveryBlockIsBlockStmAndNothingIsJudged) {
  AdaptivePolicy policy(0);
  EXPECT_FALSE(policy.enabled());
  EXPECT_EQ(play(policy, 40, 'w'), std::string(40, 'T'));
  EXPECT_EQ(policy.judge(kPrefixNs).speedup, 0);
  EXPECT_EQ(policy.max_declared_chain(kTxns), 0u);
  policy.loop_ran_block(kPrefixNs, 1, kTxns);
  EXPECT_FALSE(policy.block_stm_finished(1'000'000'000, kTxns, kPrefixNs)) << "never lost when disabled";
}

// Where Block-STM never loses, the loop still runs a block now and then to measure itself: on
// the second block, then whenever it has not run for 32 blocks.
TEST(AdaptivePolicy, TheLoopProbesOnTheSecondBlockThenEvery32) {
  AdaptivePolicy policy(1.0);
  EXPECT_EQ(play(policy, 40, 'w'), "TpTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTpTTTTT");
}

// Each loss in a row sends twice as many blocks to the loop before Block-STM is tried again:
// 1, 2, 4, then at most 8.
TEST(AdaptivePolicy, LossesInARowSendOneTwoFourThenEightBlocksToTheLoop) {
  AdaptivePolicy policy(1.0);
  EXPECT_EQ(play(policy, 30, 's'), "TlTllTllllTllllllllTllllllllTl");
}

TEST(AdaptivePolicy, AWinEndsTheStreakOfLosses) {
  AdaptivePolicy policy(1.0);
  EXPECT_EQ(play(policy, 6, 's'), "TlTllT");  // three losses in a row: four loop blocks next
  EXPECT_EQ(play(policy, 4, 'w'), "llll");
  EXPECT_EQ(play(policy, 1, 'w'), "T");  // won: the streak ends
  EXPECT_EQ(play(policy, 3, 's'), "TlT") << "a loss after a win sends one block to the loop, not eight";
}

// The yardstick is the prefix's cost times what the whole loop took over its prefix, learned
// from the loop's whole blocks: the first replaces the default of 1, later ones are averaged in,
// and the ratio stays within [0.25, 4].
TEST(AdaptivePolicy, TheYardstickLearnsTheWholeLoopOverItsPrefix) {
  AdaptivePolicy policy(1.5);
  EXPECT_EQ(policy.judge(kPrefixNs).loop_ns_per_txn, 100);
  EXPECT_EQ(policy.judge(kPrefixNs).speedup, 1.5);
  policy.loop_ran_block(kPrefixNs, 150 * kTxns, kTxns);
  EXPECT_DOUBLE_EQ(policy.loop_cost_ratio(), 1.5);
  policy.loop_ran_block(kPrefixNs, 250 * kTxns, kTxns);
  EXPECT_DOUBLE_EQ(policy.loop_cost_ratio(), 2.0);
  EXPECT_DOUBLE_EQ(policy.judge(50).loop_ns_per_txn, 100);
  policy.loop_ran_block(kPrefixNs, 1000 * kTxns, kTxns);  // (2 + 10) / 2, held at 4
  EXPECT_DOUBLE_EQ(policy.loop_cost_ratio(), 4);
  policy.loop_ran_block(0, 1000, kTxns);  // nothing measured: nothing learned
  policy.loop_ran_block(kPrefixNs, 1000, 0);
  EXPECT_DOUBLE_EQ(policy.loop_cost_ratio(), 4);
}

// A block Block-STM ran whole is lost under 0.95 of the speedup asked for, once the yardstick
// was learned; before, nothing is judged.
TEST(AdaptivePolicy, AWholeBlockIsLostUnderNinetyFivePercentOfTheSpeedup) {
  AdaptivePolicy policy(1.0);
  const std::uint64_t loop_ns = static_cast<std::uint64_t>(kPrefixNs * kTxns);
  EXPECT_FALSE(policy.block_stm_finished(loop_ns * 10, kTxns, kPrefixNs)) << "no yardstick learned yet";
  policy.loop_ran_block(kPrefixNs, loop_ns, kTxns);
  EXPECT_FALSE(policy.block_stm_finished(loop_ns * 104 / 100, kTxns, kPrefixNs)) << "a close call is a win";
  EXPECT_EQ(policy.plan_block(), Plan::kBlockStm);
  EXPECT_TRUE(policy.block_stm_finished(loop_ns * 106 / 100, kTxns, kPrefixNs));
  EXPECT_EQ(policy.plan_block(), Plan::kLoopAfterLoss);
}

TEST(AdaptivePolicy, ThePrefixIsAThirtySecondOfTheBlockFromOneTo1024) {
  EXPECT_EQ(AdaptivePolicy::prefix_length(0), 0u);
  EXPECT_EQ(AdaptivePolicy::prefix_length(1), 1u);
  EXPECT_EQ(AdaptivePolicy::prefix_length(63), 1u);
  EXPECT_EQ(AdaptivePolicy::prefix_length(64), 2u);
  EXPECT_EQ(AdaptivePolicy::prefix_length(10'000), 312u);
  EXPECT_EQ(AdaptivePolicy::prefix_length(1'000'000), 1024u);
}

// A declared chain longer than a sixth of the block leaves too little parallelism to run.
TEST(AdaptivePolicy, ADeclaredChainMayBeASixthOfTheBlock) {
  AdaptivePolicy policy(1.0);
  EXPECT_EQ(policy.max_declared_chain(1000), 166u);
  EXPECT_EQ(policy.max_declared_chain(5), 1u) << "a chain of one is no chain";
}

// Inside a block only a clear loss stops Block-STM (under 0.8 of the speedup), and only after a
// sixteenth of the block and 256 executions; wasted executions do not count as progress.
TEST(FallbackJudge, StopsOnlyAClearLossAfterASixteenthOfTheBlock) {
  const FallbackJudge judge{.loop_ns_per_txn = 100, .speedup = 1.0};
  EXPECT_FALSE(judge.should_stop(255, 0, 1000, 1'000'000'000)) << "before 256 executions";
  EXPECT_FALSE(judge.should_stop(400, 0, 8000, 1'000'000'000)) << "before a sixteenth of the block";
  // 600 standing executions are worth 60,000 ns of the loop: a clear loss past 75,000 ns.
  EXPECT_FALSE(judge.should_stop(600, 0, 8000, 74'000));
  EXPECT_TRUE(judge.should_stop(600, 0, 8000, 76'000));
  EXPECT_TRUE(judge.should_stop(600, 300, 8000, 40'000)) << "half of them wasted: past 37,500 ns";
  EXPECT_FALSE(FallbackJudge{}.should_stop(600, 600, 8000, 1'000'000'000)) << "no judge: never";
}

}  // namespace
}  // namespace pel::testing
