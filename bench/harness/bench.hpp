// The throughput benchmark behind `pel bench`: sequential and Block-STM on the same blocks in
// the same run, over a grid of workloads, contention levels, block sizes, work and threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/result.hpp"
#include "engine/block_result.hpp"
#include "engine/parallel_executor.hpp"

namespace pel::bench {

struct BenchConfig {
  std::vector<std::string> workloads{"p2p"};
  std::vector<std::uint32_t> accounts{10000};
  std::vector<std::uint32_t> block_sizes{10000};
  std::vector<std::uint32_t> works{0};
  std::vector<int> threads{1, 2};
  int runs = 3;                // medians of this many timed runs
  int warmups = 1;
  double skew = 0.0;
  std::uint64_t seed = 1;
  bool end_to_end = false;     // add signature checking and the LevelDB commit to both sides
  /// In-memory runs: which declared writes Block-STM uses (end-to-end runs use the chain's).
  ParallelOptions::Declarations declarations = ParallelOptions::Declarations::kOff;
  /// In-memory runs: ParallelOptions::fallback_speedup (0: the contention fallback off, to
  /// measure what it costs a block Block-STM wins).
  double fallback_speedup = 1.0;
  std::string scratch_dir;     // where end-to-end runs create chains (a temporary dir if empty)
};

/// One measured point: a (workload, accounts, block size, work, threads) combination.
struct BenchRow {
  std::string workload;
  std::uint32_t accounts = 0;
  std::uint32_t block_size = 0;
  std::uint32_t work = 0;
  int threads = 0;
  bool end_to_end = false;
  double seq_tps = 0;           // median
  double par_tps = 0;           // median
  double speedup = 0;           // median over runs of (seq time / par time), each pair one run
  /// The block executed from its access list on the same threads. In memory: the list recorded
  /// once beforehand, ParallelExecutor::execute_listed. End to end: the block the parallel side
  /// made, imported into a fresh chain (signatures, execution from the list, roots, commit).
  double listed_tps = 0;        // median
  double listed_speedup = 0;    // median over runs of (seq time / listed time)
  double access_list_share = 0; // end to end: the access list's share of the encoded block
  std::uint64_t longest_chain = 0;  // in memory: the block's longest chain of dependent transactions
  std::uint64_t listed_waits = 0;   // in memory: dependencies from the list (ExecutionStats::listed_dependencies)
  double seq_ns_per_txn = 0;
  double par_ns_per_txn = 0;
  double executions_per_txn = 0;
  double validations_per_txn = 0;
  std::uint64_t aborts = 0;
  std::uint64_t suspensions = 0;
  double commit_share = 0;      // end to end: commit time / block time on the parallel side
  /// The serial end of the last counted parallel run (collecting the writes, final deltas,
  /// finish_block, freeing the multi-version memory): finalize time / execution time.
  double finalize_share = 0;
  double par_cpus = 0;          // median cores the parallel runs really got (CPU time / wall time)
  ExecutionPath path = ExecutionPath::kBlockStm;  // which executor ran the block (see below)
  std::uint64_t kept_on_fallback = 0;  // of it, transactions the parallel run had made final
  /// Timed parallel runs, and of them those the contention fallback's plain loop ran all or
  /// part of (a fallback, a block after a lost one, a probe; ParallelOptions::fallback_speedup).
  /// The counts above (exec/tx, aborts, path, hot_keys) are the last run's where Block-STM
  /// ran, or the last run's when the loop ran every one.
  std::uint32_t timed_runs = 0;
  std::uint32_t loop_runs = 0;
  double core_round_trip_ns = 0;  // measured just before this row (see core_round_trip_ns())
  std::vector<KeyConflicts> hot_keys;  // the last parallel run's most conflicted keys (JSON only)

  /// The parallel runs got well under one core per thread although Block-STM ran (no fallback):
  /// the host was busy elsewhere.
  bool starved() const;
  nlohmann::json to_json() const;
};

/// Below this share of a core per thread, a row counts as starved.
inline constexpr double kStarvedShare = 0.85;

/// The round trip of one cache line between two threads, in nanoseconds (median of a few
/// short ping-pong runs). Block-STM moves several lines between cores per transaction, so on
/// cheap transactions its speedup follows this: a virtual machine whose two cores share a
/// cache answers in under 100 ns, one whose cores sit on different dies in 300-400 ns.
double core_round_trip_ns();

/// Runs the grid; calls `on_row` as each row is measured (for streaming output).
Result<std::vector<BenchRow>> run_bench(const BenchConfig& config,
                                        const std::function<void(const BenchRow&)>& on_row = {});

/// The terminal table.
std::string format_table(const std::vector<BenchRow>& rows);
std::string format_header();
std::string format_row(const BenchRow& row);
/// A warning naming how many rows were starved of cores; empty when none were.
std::string starvation_note(const std::vector<BenchRow>& rows);

/// Draws speedup against threads per contention level (and against work) with gnuplot.
Status plot(const std::vector<BenchRow>& rows, const std::string& png_path);

}  // namespace pel::bench
