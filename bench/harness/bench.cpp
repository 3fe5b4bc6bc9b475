#include "bench/harness/bench.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>
#include <sys/resource.h>
#include <unistd.h>

#include "engine/access_list.hpp"
#include "engine/executor_common.hpp"
#include "engine/ledger/genesis.hpp"
#include "engine/ledger/ledger_vm.hpp"
#include "engine/ledger/workload.hpp"
#include "engine/parallel_executor.hpp"
#include "engine/sequential_executor.hpp"
#include "node/chain.hpp"

namespace pel::bench {
namespace {

namespace fs = std::filesystem;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double seconds(std::uint64_t ns) { return static_cast<double>(ns) * 1e-9; }

// CPU time of the whole process (every thread), in seconds.
double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

ledger::GenesisParams genesis_for(const BenchConfig& c, std::uint32_t accounts) {
  ledger::GenesisParams g;
  g.seed = c.seed;
  g.accounts = std::max<std::uint32_t>(accounts, 2);
  return g;
}

// Times one run: wall time and the cores it really had. Block-STM workers never sleep during a
// block, so process CPU time over wall time shows a machine that gave them fewer cores.
class RunTimer {
 public:
  double seconds() const { return static_cast<double>(elapsed_ns(wall_)) * 1e-9; }
  double cpus() const {
    const double wall = seconds();
    return wall > 0 ? (process_cpu_seconds() - cpu_) / wall : 0;
  }

 private:
  std::chrono::steady_clock::time_point wall_ = std::chrono::steady_clock::now();
  double cpu_ = process_cpu_seconds();
};

struct Measured {
  double seconds = 0;
  double cpus = 0;  // process CPU time / wall time: the cores the machine actually gave the run
  ExecutionStats stats;
  double commit_seconds = 0;
};

// In memory: the VM and the block are shared by both sides; only execution is timed.
class MemoryCase {
 public:
  MemoryCase(const ledger::GenesisParams& genesis, std::vector<ledger::Transaction> txns, std::uint32_t work,
             ParallelOptions::Declarations declarations, double fallback_speedup)
      : declarations_(declarations),
        fallback_speedup_(fallback_speedup),
        txns_(std::move(txns)),
        signature_ok_(ledger::verify_signatures(txns_, 2)),
        vm_(ledger::BlockContext{.height = 1, .timestamp = 1, .beneficiary = {}, .chain_id = genesis.chain_id},
            txns_, signature_ok_, ledger::LedgerOptions{.work = work}) {
    base_.apply(ledger::build_genesis(genesis));
    AccessRecorder recorder(vm_, txns_.size());
    list_ = recorder.take(execute_sequential(recorder, txns_.size(), base_).outputs);
  }

  // A small block executes in microseconds, too short to time once against a noisy clock and a
  // cold cache: it is executed `repetitions_` times in a row and the mean is reported, so every
  // timed run lasts about as long as one 10,000-transaction block.
  // `listed`: from the block's access list instead of by Block-STM.
  Result<Measured> run(int threads, bool listed) {
    Measured m;
    RunTimer timer;
    for (std::size_t rep = 0; rep < repetitions_; ++rep) {
      if (threads == 0) {
        m.stats = execute_sequential(vm_, txns_.size(), base_).stats;
      } else if (listed) {
        auto result = executor(threads).execute_listed(vm_, txns_.size(), base_, list_);
        if (!result.is_ok()) return result.status();
        m.stats = result->stats;
      } else {
        m.stats = executor(threads).execute(vm_, txns_.size(), base_).stats;
      }
    }
    m.seconds = timer.seconds() / static_cast<double>(repetitions_);
    m.cpus = timer.cpus();
    return m;
  }

 private:
  ParallelExecutor& executor(int threads) {
    auto& e = executors_[threads];
    if (!e) {
      e = std::make_unique<ParallelExecutor>(
          ParallelOptions{.threads = threads,
                          .always_block_stm = true,
                          .fallback_speedup = fallback_speedup_,
                          .declarations = declarations_});
    }
    return *e;
  }
  ParallelOptions::Declarations declarations_;
  double fallback_speedup_;
  std::vector<ledger::Transaction> txns_;
  std::vector<std::uint8_t> signature_ok_;
  ledger::LedgerVm vm_;
  MemoryState base_;
  AccessList list_;
  std::size_t repetitions_ = std::max<std::size_t>(1, 10'000 / std::max<std::size_t>(txns_.size(), 1));
  std::map<int, std::unique_ptr<ParallelExecutor>> executors_;
};

// End to end: signature checking, execution, roots and the synced LevelDB commit, each run on
// a fresh chain directory made from the same genesis (its creation is not timed).
// `listed` runs import the block the last parallel run made (its access list included) instead.
class EndToEndCase {
 public:
  EndToEndCase(const ledger::GenesisParams& genesis, std::vector<ledger::Transaction> txns,
               std::uint32_t work, std::string scratch)
      : genesis_(genesis), txns_(std::move(txns)), work_(work), scratch_(std::move(scratch)) {
    // One producer for every chain, so each imports what another made.
    genesis_.producer = KeyPair::from_seed(kProducerSeed).value().public_key();
  }

  Result<Measured> run(int threads, bool listed) {
    if (listed && !made_) return error(ErrorCode::kInvalidArgument, "no block made yet to import");
    const std::string dir = scratch_ + "/chain-" + std::to_string(counter_++);
    fs::remove_all(dir);
    ChainOptions options;
    options.datadir = dir;
    options.threads = std::max(threads, 1);  // 0 = sequential: one worker takes the sequential path
    options.ledger.work = work_;
    options.producer_seed = kProducerSeed;
    Measured m;
    {
      auto chain = Chain::create(options, genesis_);
      if (!chain.is_ok()) return chain.status();
      RunTimer timer;
      if (listed) {
        PEL_TRY((*chain)->import(*made_));
      } else {
        auto executed = (*chain)->execute(txns_, 1, Address{});
        if (!executed.is_ok()) return executed.status();
        PEL_TRY((*chain)->commit(*executed));
        m.stats = executed->stats;
        m.commit_seconds = seconds(executed->timings.commit_ns + executed->timings.roots_ns);
        if (threads > 0) made_ = executed->block;
      }
      m.seconds = timer.seconds();
      m.cpus = timer.cpus();
    }
    fs::remove_all(dir);
    return m;
  }

  /// The access list's share of the encoded block the parallel side made.
  double access_list_share() const {
    return made_ ? static_cast<double>(made_->access_list.size()) / static_cast<double>(made_->encode().size()) : 0;
  }

 private:
  static constexpr Seed kProducerSeed{42};
  std::optional<Block> made_;
  ledger::GenesisParams genesis_;
  std::vector<ledger::Transaction> txns_;
  std::uint32_t work_;
  std::string scratch_;
  int counter_ = 0;
};

// One ping-pong run: `rounds` hand-overs of a flag there and back; ns per round trip.
// Waits until `ball` holds `value`. Spins: on two cores the ball comes back within a few hundred
// nanoseconds, long before kSpinsBeforeYield tries, so the probe measures the line's latency.
// Only then does it yield: with one core for both threads (a one-CPU container, valgrind) the
// partner runs only when this thread gives way, and a pure spin took minutes per probe.
void wait_for(const std::atomic<int>& ball, int value) {
  constexpr int kSpinsBeforeYield = 1 << 14;
  for (int spins = 0; ball.load(std::memory_order_acquire) != value;) {
    if (++spins >= kSpinsBeforeYield) {
      std::this_thread::yield();
      spins = 0;
    }
  }
}

double ping_pong_ns(int rounds) {
  alignas(64) std::atomic<int> ball{0};
  std::thread partner([&] {
    for (int i = 0; i < rounds; ++i) {
      wait_for(ball, 1);
      ball.store(0, std::memory_order_release);
    }
  });
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    ball.store(1, std::memory_order_release);
    wait_for(ball, 0);
  }
  const double ns = static_cast<double>(elapsed_ns(t0));
  partner.join();
  return ns / rounds;
}

}  // namespace

double core_round_trip_ns() {
  std::vector<double> runs;
  for (int i = 0; i < 5; ++i) runs.push_back(ping_pong_ns(20000));
  return median(runs);
}

nlohmann::json hot_keys_json(const std::vector<KeyConflicts>& keys) {
  nlohmann::json out = nlohmann::json::array();
  for (const KeyConflicts& k : keys) out.push_back({{"key", k.key.hex()}, {"aborts", k.aborts}, {"waits", k.waits}});
  return out;
}

nlohmann::json BenchRow::to_json() const {
  return {{"workload", workload},
          {"accounts", accounts},
          {"block_size", block_size},
          {"work", work},
          {"threads", threads},
          {"end_to_end", end_to_end},
          {"seq_tps", seq_tps},
          {"par_tps", par_tps},
          {"speedup", speedup},
          {"listed_tps", listed_tps},
          {"listed_speedup", listed_speedup},
          {"access_list_share", access_list_share},
          {"longest_chain", longest_chain},
          {"listed_waits", listed_waits},
          {"seq_ns_per_txn", seq_ns_per_txn},
          {"par_ns_per_txn", par_ns_per_txn},
          {"executions_per_txn", executions_per_txn},
          {"validations_per_txn", validations_per_txn},
          {"aborts", aborts},
          {"suspensions", suspensions},
          {"commit_share", commit_share},
          {"finalize_share", finalize_share},
          {"par_cpus", par_cpus},
          {"path", path_name(path)},
          {"loop_runs", loop_runs},
          {"timed_runs", timed_runs},
          {"kept_on_fallback", kept_on_fallback},
          {"core_round_trip_ns", core_round_trip_ns},
          {"hot_keys", hot_keys_json(hot_keys)}};
}

Result<std::vector<BenchRow>> run_bench(const BenchConfig& config,
                                        const std::function<void(const BenchRow&)>& on_row) {
  std::vector<BenchRow> rows;
  std::string scratch = config.scratch_dir;
  bool own_scratch = false;
  if (config.end_to_end && scratch.empty()) {
    scratch = (fs::temp_directory_path() / ("pel-bench-" + std::to_string(::getpid()))).string();
    own_scratch = true;
  }
  for (const std::string& workload : config.workloads) {
    for (std::uint32_t accounts : config.accounts) {
      for (std::uint32_t block_size : config.block_sizes) {
        ledger::GenesisParams genesis = genesis_for(config, accounts);
        ledger::WorkloadParams wp;
        wp.name = workload;
        wp.accounts = std::max<std::uint32_t>(accounts, 2);
        wp.block_size = block_size;
        wp.skew = config.skew;
        wp.seed = config.seed;
        PEL_TRY(ledger::WorkloadGenerator::check(genesis, wp));
        ledger::WorkloadGenerator generator(genesis, wp);
        std::vector<ledger::Transaction> txns = generator.next_block();
        for (std::uint32_t work : config.works) {
          std::unique_ptr<MemoryCase> memory;
          std::unique_ptr<EndToEndCase> e2e;
          if (config.end_to_end) {
            e2e = std::make_unique<EndToEndCase>(genesis, txns, work, scratch);
          } else {
            memory = std::make_unique<MemoryCase>(genesis, txns, work, config.declarations, config.fallback_speedup);
          }
          auto measure = [&](int threads, bool listed = false) -> Result<Measured> {
            if (e2e) return e2e->run(threads, listed);
            return memory->run(threads, listed);
          };
          for (int threads : config.threads) {
            // Alternate sequential and parallel runs so both see the same machine conditions.
            std::vector<double> seq_s, par_s, ratios, cpus, listed_s, listed_ratios;
            ExecutionStats listed_stats;
            Measured last;  // the last timed parallel run where Block-STM ran, else the last one
            bool block_stm_ran = false;
            std::uint32_t loop_runs = 0;  // timed parallel runs the plain loop ran all or part of
            double commit_share = 0;
            for (int run = -config.warmups; run < config.runs; ++run) {
              auto seq = measure(0);
              if (!seq.is_ok()) return seq.status();
              auto par = measure(threads);
              if (!par.is_ok()) return par.status();
              std::optional<Measured> listed;
              if (threads > 0) {
                auto l = measure(threads, true);
                if (!l.is_ok()) return l.status();
                listed = *l;
              }
              if (run < 0) continue;
              if (listed) {
                listed_stats = listed->stats;
                listed_s.push_back(listed->seconds);
                listed_ratios.push_back(seq->seconds / listed->seconds);
              }
              seq_s.push_back(seq->seconds);
              par_s.push_back(par->seconds);
              ratios.push_back(seq->seconds / par->seconds);
              cpus.push_back(par->cpus);
              // The contention fallback's loop ran this block, outright (after a lost block, or to
              // measure itself) or for the rest of it: its counts describe the loop.
              const bool outright_loop = par->stats.path == ExecutionPath::kLoopProbe ||
                                         par->stats.path == ExecutionPath::kLoopAfterLoss;
              if (fallback_loop_ran(par->stats.path)) ++loop_runs;
              if (!outright_loop || !block_stm_ran) last = *par;
              block_stm_ran = block_stm_ran || !outright_loop;
              commit_share = par->commit_seconds / par->seconds;
            }
            BenchRow row;
            row.core_round_trip_ns = core_round_trip_ns();
            row.workload = workload;
            row.accounts = accounts;
            row.block_size = block_size;
            row.work = work;
            row.threads = threads;
            row.end_to_end = config.end_to_end;
            const double n = static_cast<double>(txns.size());
            row.seq_tps = n / median(seq_s);
            row.par_tps = n / median(par_s);
            row.speedup = median(ratios);
            row.listed_tps = listed_s.empty() ? 0 : n / median(listed_s);
            row.listed_speedup = median(listed_ratios);
            if (e2e) row.access_list_share = e2e->access_list_share();
            row.longest_chain = listed_stats.longest_chain;
            row.listed_waits = listed_stats.listed_dependencies;
            row.seq_ns_per_txn = median(seq_s) * 1e9 / n;
            row.par_ns_per_txn = median(par_s) * 1e9 / n;
            row.executions_per_txn = static_cast<double>(last.stats.executions) / n;
            row.validations_per_txn = static_cast<double>(last.stats.validations) / n;
            row.aborts = last.stats.aborts;
            row.suspensions = last.stats.suspensions;
            row.commit_share = commit_share;
            const std::uint64_t last_ns = last.stats.execute_ns + last.stats.finalize_ns;
            row.finalize_share = last_ns > 0 ? static_cast<double>(last.stats.finalize_ns) / static_cast<double>(last_ns) : 0;
            row.par_cpus = median(cpus);
            row.path = last.stats.path;
            row.loop_runs = loop_runs;
            row.timed_runs = static_cast<std::uint32_t>(seq_s.size());
            row.kept_on_fallback = last.stats.kept_on_fallback;
            row.hot_keys = last.stats.hot_keys;
            if (on_row) on_row(row);
            rows.push_back(row);
          }
        }
      }
    }
  }
  if (own_scratch) fs::remove_all(scratch);
  return rows;
}

std::string format_header() {
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%-8s %8s %6s %5s %4s %11s %11s %8s %8s %8s %8s %8s %8s %5s %6s", "workload",
                "accounts", "block", "work", "thr", "seq tps", "par tps", "speedup", "listed", "exec/tx",
                "valid/tx", "aborts", "suspend", "cpus", "rtt ns");
  return buf;
}

std::string format_row(const BenchRow& r) {
  char buf[256];
  char mark[32] = "";
  if (r.loop_runs > 0) {
    std::snprintf(mark, sizeof(mark), " loop %u/%u", r.loop_runs, r.timed_runs);
  } else if (r.starved()) {
    std::snprintf(mark, sizeof(mark), " !");
  }
  std::snprintf(buf, sizeof(buf), "%-8s %8u %6u %5u %4d %11.0f %11.0f %7.2fx %7.2fx %8.2f %8.2f %8llu %8llu %5.2f %6.0f%s",
                r.workload.c_str(), r.accounts, r.block_size, r.work, r.threads, r.seq_tps, r.par_tps,
                r.speedup, r.listed_speedup, r.executions_per_txn, r.validations_per_txn,
                static_cast<unsigned long long>(r.aborts), static_cast<unsigned long long>(r.suspensions),
                r.par_cpus, r.core_round_trip_ns, mark);
  std::string row = buf;
  if (r.end_to_end) {
    std::snprintf(buf, sizeof(buf), "  list %.1f%% of the block", 100 * r.access_list_share);
    row += buf;
  }
  return row;
}

bool BenchRow::starved() const {
  return threads > 1 && loop_runs == 0 && par_cpus < kStarvedShare * static_cast<double>(threads);
}

std::string starvation_note(const std::vector<BenchRow>& rows) {
  const auto starved = std::count_if(rows.begin(), rows.end(), [](const BenchRow& r) { return r.starved(); });
  if (starved == 0) return {};
  return "! " + std::to_string(starved) +
         " row(s) got fewer cores than threads from the machine (cpus column): the host was busy, and "
         "their speedups understate the engine. Re-run them on a quiet machine.";
}

std::string format_table(const std::vector<BenchRow>& rows) {
  std::string out = format_header() + "\n";
  for (const BenchRow& r : rows) out += format_row(r) + "\n";
  if (std::string note = starvation_note(rows); !note.empty()) out += note + "\n";
  return out;
}

Status plot(const std::vector<BenchRow>& rows, const std::string& png_path) {
  // One data block per (workload, accounts, work) series: threads -> speedup; and one per
  // (workload, accounts, threads): work -> speedup.
  const std::string data_path = png_path + ".dat";
  std::ofstream data(data_path);
  if (!data) return error(ErrorCode::kIo, data_path + ": cannot write");
  std::map<std::string, std::vector<std::pair<double, double>>> by_threads, by_work;
  for (const BenchRow& r : rows) {
    std::string series = r.workload + " A=" + std::to_string(r.accounts) + " n=" + std::to_string(r.block_size);
    by_threads[series + " work=" + std::to_string(r.work)].push_back({r.threads, r.speedup});
    by_work[series + " threads=" + std::to_string(r.threads)].push_back({r.work, r.speedup});
  }
  auto write_blocks = [&](const auto& series_map) {
    std::vector<std::string> titles;
    for (const auto& [title, points] : series_map) {
      auto sorted = points;
      std::sort(sorted.begin(), sorted.end());
      for (auto [x, y] : sorted) data << x << " " << y << "\n";
      data << "\n\n";
      titles.push_back(title);
    }
    return titles;
  };
  std::vector<std::string> t_titles = write_blocks(by_threads);
  std::vector<std::string> w_titles = write_blocks(by_work);
  data.close();

  const std::string script_path = png_path + ".gp";
  std::ofstream gp(script_path);
  gp << "set terminal pngcairo size 1400,600 noenhanced\nset output '" << png_path << "'\n"
     << "set multiplot layout 1,2\nset key outside below\nset grid\n"
     << "set title 'speedup over sequential vs threads'\nset xlabel 'threads'\nset ylabel 'speedup'\n"
     << "plot ";
  for (std::size_t i = 0; i < t_titles.size(); ++i) {
    gp << (i ? ", " : "") << "'" << data_path << "' index " << i << " with linespoints title '" << t_titles[i] << "'";
  }
  gp << "\nset title 'speedup vs work per transaction (SHA-256 rounds)'\nset xlabel 'work'\nplot ";
  for (std::size_t i = 0; i < w_titles.size(); ++i) {
    gp << (i ? ", " : "") << "'" << data_path << "' index " << t_titles.size() + i
       << " with linespoints title '" << w_titles[i] << "'";
  }
  gp << "\nunset multiplot\n";
  gp.close();
  const std::string cmd = "gnuplot '" + script_path + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    return error(ErrorCode::kIo, "gnuplot failed on " + script_path + " (is gnuplot installed?)");
  }
  return Status::ok();
}

}  // namespace pel::bench
