#include "node/cli/commands.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bench/harness/bench.hpp"
#include "engine/ledger/genesis.hpp"
#include "engine/ledger/records.hpp"
#include "engine/ledger/state_keys.hpp"
#include "engine/ledger/workload.hpp"
#include "node/block_file.hpp"
#include "node/chain.hpp"
#include "node/replay.hpp"
#include "node/producer.hpp"

namespace pel::cli {
namespace po = boost::program_options;
namespace {

int fail(const std::string& command, const std::string& message) {
  std::cerr << "pel " << command << ": error: " << message << "\n";
  return 1;
}

int fail(const std::string& command, const Status& status) { return fail(command, status.to_string()); }

template <typename T>
std::vector<T> parse_list(const std::string& text) {
  std::vector<T> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    std::size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v < 0) throw po::error("not a non-negative number: '" + item + "'");
    out.push_back(static_cast<T>(v));
  }
  if (out.empty()) throw po::error("empty list '" + text + "'");
  return out;
}

std::vector<std::string> parse_names(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

ChainOptions chain_options(const po::variables_map& vm) {
  ChainOptions o;
  o.datadir = vm["datadir"].as<std::string>();
  if (vm.count("threads")) o.threads = vm["threads"].as<int>();
  return o;
}

void add_datadir(po::options_description& d) {
  d.add_options()("datadir", po::value<std::string>()->required(), "chain directory");
}

double per_second(double count, double seconds) { return seconds > 0 ? count / seconds : 0; }

// ---- init -------------------------------------------------------------------------------------

void init_options(po::options_description& d) {
  add_datadir(d);
  d.add_options()("accounts", po::value<std::uint32_t>()->default_value(1000), "funded genesis accounts")
      ("seed", po::value<std::uint64_t>()->default_value(1), "genesis seed (account keys derive from it)")
      ("chain-id", po::value<std::uint32_t>()->default_value(1), "chain id (replay protection)");
}

int init_run(const po::variables_map& vm) {
  ledger::GenesisParams g;
  g.accounts = vm["accounts"].as<std::uint32_t>();
  g.seed = vm["seed"].as<std::uint64_t>();
  g.chain_id = vm["chain-id"].as<std::uint32_t>();
  if (g.accounts < 2) return fail("init", "--accounts must be at least 2");
  auto chain = Chain::create(chain_options(vm), g);
  if (!chain.is_ok()) return fail("init", chain.status());
  std::cout << "initialized " << vm["datadir"].as<std::string>() << ": " << g.accounts
            << " accounts, genesis " << (*chain)->head_hash().hex() << ", state root "
            << (*chain)->head().state_root.hex() << "\n";
  return 0;
}

// ---- produce ----------------------------------------------------------------------------------

void produce_options(po::options_description& d) {
  add_datadir(d);
  d.add_options()("workload", po::value<std::string>()->required(), "p2p, token, swap, nft, staking, dao, airdrop or mix")
      ("blocks", po::value<std::uint64_t>()->default_value(10), "blocks to produce")
      ("block-size", po::value<std::uint32_t>()->default_value(1000), "transactions per block")
      ("accounts", po::value<std::uint32_t>(), "accounts used (contention); default: every genesis account")
      ("threads", po::value<int>()->default_value(2), "Block-STM workers")
      ("seed", po::value<std::uint64_t>()->default_value(1), "workload seed")
      ("skew", po::value<double>()->default_value(0.0), "hot-spot skew (Zipf exponent, 0 = uniform)")
      ("invalid-fraction", po::value<double>()->default_value(0.0), "share of deliberately invalid transactions")
      ("sync-every", po::value<std::uint32_t>()->default_value(1), "sync the database every N blocks")
      ("no-pipeline", po::bool_switch(), "commit each block before executing the next")
      ("quiet", po::bool_switch(), "print only the summary");
}

int produce_run(const po::variables_map& vm) {
  ChainOptions options = chain_options(vm);
  options.database.sync_every_blocks = vm["sync-every"].as<std::uint32_t>();
  auto chain = Chain::open(options);
  if (!chain.is_ok()) return fail("produce", chain.status());
  ProduceParams p;
  p.workload.name = vm["workload"].as<std::string>();
  p.workload.block_size = vm["block-size"].as<std::uint32_t>();
  p.workload.accounts = vm.count("accounts") ? vm["accounts"].as<std::uint32_t>() : (*chain)->genesis().accounts;
  p.workload.seed = vm["seed"].as<std::uint64_t>();
  p.workload.skew = vm["skew"].as<double>();
  p.workload.invalid_fraction = vm["invalid-fraction"].as<double>();
  p.blocks = vm["blocks"].as<std::uint64_t>();
  p.pipeline = !vm["no-pipeline"].as<bool>();
  const bool quiet = vm["quiet"].as<bool>();
  auto summary = produce(**chain, p, [&](const ExecutedBlock& b) {
    if (quiet) return;
    const auto& t = b.timings;
    double total = static_cast<double>(t.signatures_ns + t.execution_ns + t.roots_ns + t.commit_ns) * 1e-9;
    std::printf("block %llu %s: %u txns, gas %llu, %.0f tps (signatures %.1f ms, execution %.1f ms, roots %.1f ms, commit %.1f ms), %.2f executions/txn\n",
                static_cast<unsigned long long>(b.block.header.height), b.block.header.hash().hex().c_str(),
                b.block.header.transaction_count, static_cast<unsigned long long>(b.block.header.gas_used),
                per_second(b.block.header.transaction_count, total), t.signatures_ns * 1e-6,
                t.execution_ns * 1e-6, t.roots_ns * 1e-6, t.commit_ns * 1e-6,
                b.stats.transactions ? static_cast<double>(b.stats.executions) / b.stats.transactions : 0.0);
    std::fflush(stdout);
  });
  if (!summary.is_ok()) return fail("produce", summary.status());
  std::printf("produced %llu blocks, %llu transactions in %.2f s: %.0f tps end to end; head %llu %s\n",
              static_cast<unsigned long long>(summary->blocks), static_cast<unsigned long long>(summary->transactions),
              summary->seconds, per_second(static_cast<double>(summary->transactions), summary->seconds),
              static_cast<unsigned long long>((*chain)->head().height), (*chain)->head_hash().hex().c_str());
  return 0;
}

// ---- export / import --------------------------------------------------------------------------

void export_options(po::options_description& d) {
  add_datadir(d);
  d.add_options()("out", po::value<std::string>()->required(), "file to write")
      ("from", po::value<std::uint64_t>()->default_value(1), "first height")
      ("to", po::value<std::uint64_t>(), "last height (default: the head)");
}

int export_run(const po::variables_map& vm) {
  auto chain = Chain::open(chain_options(vm));
  if (!chain.is_ok()) return fail("export", chain.status());
  std::uint64_t from = vm["from"].as<std::uint64_t>();
  std::uint64_t to = vm.count("to") ? vm["to"].as<std::uint64_t>() : (*chain)->head().height;
  const std::string out = vm["out"].as<std::string>();
  Status s = export_blocks(**chain, out, from, to);
  if (!s.is_ok()) return fail("export", s);
  std::cout << "exported blocks " << from << ".." << to << " to " << out << "\n";
  return 0;
}

void import_options(po::options_description& d) {
  add_datadir(d);
  d.add_options()("in", po::value<std::string>()->required(), "block file made by pel export")
      ("threads", po::value<int>()->default_value(2), "Block-STM workers")
      ("sync-every", po::value<std::uint32_t>()->default_value(1), "sync the database every N blocks")
      ("skip-signatures", po::bool_switch(),
       "trust the file's signatures (assume valid); a block with a discarded bad signature then fails its receipts root")
      ("no-pipeline", po::bool_switch(), "commit each block before executing the next");
}

int import_run(const po::variables_map& vm) {
  ChainOptions options = chain_options(vm);
  options.database.sync_every_blocks = vm["sync-every"].as<std::uint32_t>();
  options.check_signatures = !vm["skip-signatures"].as<bool>();
  auto chain = Chain::open(options);
  if (!chain.is_ok()) return fail("import", chain.status());
  std::uint64_t blocks = 0, txns = 0;
  auto start = std::chrono::steady_clock::now();
  Status s = import_blocks(**chain, vm["in"].as<std::string>(), [&](const Block& b) {
    ++blocks;
    txns += b.transactions.size();
  }, /*pipeline=*/!vm["no-pipeline"].as<bool>());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!s.is_ok()) {
    std::cerr << "pel import: imported " << blocks << " blocks before the error; head stays at "
              << (*chain)->head().height << "\n";
    return fail("import", s);
  }
  std::printf("imported %llu blocks, %llu transactions in %.2f s (%.0f tps); head %llu %s\n",
              static_cast<unsigned long long>(blocks), static_cast<unsigned long long>(txns), secs,
              per_second(static_cast<double>(txns), secs), static_cast<unsigned long long>((*chain)->head().height),
              (*chain)->head_hash().hex().c_str());
  return 0;
}

// ---- replay -----------------------------------------------------------------------------------

void replay_options(po::options_description& d) {
  add_datadir(d);
  d.add_options()("from", po::value<std::uint64_t>()->default_value(1), "first height to re-execute")
      ("to", po::value<std::uint64_t>(), "last height (default: the head)")
      ("threads", po::value<int>()->default_value(2), "Block-STM workers")
      ("compare-sequential", po::bool_switch(), "also execute sequentially, require equality, report the speedup")
      ("skip-signatures", po::bool_switch(), "trust signatures checked at import (assume valid)");
}

int replay_run(const po::variables_map& vm) {
  auto chain = Chain::open(chain_options(vm));
  if (!chain.is_ok()) return fail("replay", chain.status());
  ReplayOptions o;
  o.from = vm["from"].as<std::uint64_t>();
  if (vm.count("to")) o.to = vm["to"].as<std::uint64_t>();
  o.threads = vm["threads"].as<int>();
  o.compare_sequential = vm["compare-sequential"].as<bool>();
  o.skip_signatures = vm["skip-signatures"].as<bool>();
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  o.on_block = [tty](const ReplayProgress& p) {
    const double done = static_cast<double>(p.height - p.from + 1);
    const double total = static_cast<double>(p.to - p.from + 1);
    const double rate = per_second(done, p.elapsed_s);
    const double eta = rate > 0 ? (total - done) / rate : 0;
    if (tty) {
      const int width = 30;
      int filled = static_cast<int>(width * done / total);
      std::fprintf(stderr, "\r[%s%s] %llu/%llu  %.1f blocks/s  ETA %.0fs ", std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), static_cast<unsigned long long>(p.height),
                   static_cast<unsigned long long>(p.to), rate, eta);
      if (p.height == p.to) std::fprintf(stderr, "\n");
    } else {
      std::fprintf(stderr, "replayed block %llu/%llu (%.1f blocks/s, ETA %.0fs)\n",
                   static_cast<unsigned long long>(p.height), static_cast<unsigned long long>(p.to), rate, eta);
    }
  };
  auto s = replay(**chain, o);
  if (!s.is_ok()) {
    if (tty) std::fprintf(stderr, "\n");
    return fail("replay", s.status());
  }
  std::printf("replay verified %llu blocks, %llu transactions in %.2f s (%.0f tps); every transaction, receipts and state root matched%s\n",
              static_cast<unsigned long long>(s->blocks), static_cast<unsigned long long>(s->transactions), s->seconds,
              per_second(static_cast<double>(s->transactions), s->seconds),
              s->signatures_skipped ? "; signatures NOT re-checked (--skip-signatures)" : "; signatures re-checked");
  if (o.compare_sequential) {
    std::printf("execution: sequential %.0f tps, parallel (%d threads) %.0f tps, speedup %.2fx; %.2f executions/txn\n",
                per_second(static_cast<double>(s->transactions), s->sequential_exec_s), o.threads,
                per_second(static_cast<double>(s->transactions), s->parallel_exec_s),
                s->parallel_exec_s > 0 ? s->sequential_exec_s / s->parallel_exec_s : 0.0,
                s->transactions ? static_cast<double>(s->stats.executions) / static_cast<double>(s->transactions) : 0.0);
  }
  return 0;
}

// ---- inspect ----------------------------------------------------------------------------------

void inspect_options(po::options_description& d) {
  add_datadir(d);
  d.add_options()("what", po::value<std::vector<std::string>>()->required(), "head | block H | account ADDR")
      ("json", po::bool_switch(), "print JSON");
}

nlohmann::json header_json(const BlockHeader& h) {
  return {{"height", h.height},
          {"hash", h.hash().hex()},
          {"parent_hash", h.parent_hash.hex()},
          {"timestamp", h.timestamp},
          {"beneficiary", h.beneficiary.hex()},
          {"transactions_root", h.transactions_root.hex()},
          {"receipts_root", h.receipts_root.hex()},
          {"state_root", h.state_root.hex()},
          {"gas_used", h.gas_used},
          {"transaction_count", h.transaction_count}};
}

void print_json_or_text(const nlohmann::json& j, bool json) {
  if (json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::cout << it.key() << ": " << (it->is_string() ? it->get<std::string>() : it->dump()) << "\n";
  }
}

int inspect_run(const po::variables_map& vm) {
  auto what = vm["what"].as<std::vector<std::string>>();
  const bool json = vm["json"].as<bool>();
  auto chain = Chain::open(chain_options(vm));
  if (!chain.is_ok()) return fail("inspect", chain.status());
  if (what[0] == "head" && what.size() == 1) {
    print_json_or_text(header_json((*chain)->head()), json);
    return 0;
  }
  if (what[0] == "block" && what.size() == 2) {
    std::uint64_t height = 0;
    try {
      height = std::stoull(what[1]);
    } catch (const std::exception&) {
      return fail("inspect", "not a height: '" + what[1] + "'");
    }
    auto block = (*chain)->block_at(height);
    if (!block.is_ok()) return fail("inspect", block.status());
    auto receipts = (*chain)->receipts_at(height);
    if (!receipts.is_ok()) return fail("inspect", receipts.status());
    nlohmann::json j = header_json(block->header);
    std::uint64_t ok = 0, failed = 0, discarded = 0;
    for (const auto& r : *receipts) {
      if (r.status == ledger::TxStatus::kSuccess) ++ok;
      if (r.status == ledger::TxStatus::kFailed) ++failed;
      if (r.status == ledger::TxStatus::kDiscarded) ++discarded;
    }
    j["succeeded"] = ok;
    j["failed"] = failed;
    j["discarded"] = discarded;
    print_json_or_text(j, json);
    return 0;
  }
  if (what[0] == "account" && what.size() == 2) {
    auto address = Address::from_hex(what[1]);
    if (!address.is_ok()) return fail("inspect", "not an address: '" + what[1] + "': " + address.status().message());
    auto value = (*chain)->get_state(ledger::account_key(*address));
    nlohmann::json j{{"address", address->hex()}, {"exists", value.has_value()}};
    if (value) {
      auto account = ledger::AccountRecord::decode(as_bytes(*value));
      if (!account.is_ok()) return fail("inspect", account.status());
      j["balance"] = account->balance;
      j["nonce"] = account->nonce;
    }
    print_json_or_text(j, json);
    return 0;
  }
  return fail("inspect", "expected `head`, `block H` or `account ADDR`");
}

// ---- bench ------------------------------------------------------------------------------------

void bench_options(po::options_description& d) {
  d.add_options()("workload", po::value<std::string>()->default_value("p2p"), "comma list of workloads, or 'all'")
      ("accounts", po::value<std::string>()->default_value("10000"), "comma list (contention levels)")
      ("block-size", po::value<std::string>()->default_value("10000"), "comma list")
      ("threads", po::value<std::string>()->default_value("1,2"), "comma list of Block-STM worker counts")
      ("work", po::value<std::string>()->default_value("0"), "comma list: SHA-256 rounds added to every transaction")
      ("runs", po::value<int>()->default_value(3), "timed runs per point (medians)")
      ("warmups", po::value<int>()->default_value(1), "untimed runs per point")
      ("skew", po::value<double>()->default_value(0.0), "hot-spot skew")
      ("seed", po::value<std::uint64_t>()->default_value(1), "workload seed")
      ("end-to-end", po::bool_switch(), "include signature checking and the LevelDB commit on both sides")
      ("json", po::bool_switch(), "one JSON object per row instead of the table")
      ("plot", po::value<std::string>(), "draw speedup plots to this PNG file (gnuplot)");
}

int bench_run(const po::variables_map& vm) {
  bench::BenchConfig c;
  std::string workloads = vm["workload"].as<std::string>();
  c.workloads = workloads == "all" ? ledger::workload_names() : parse_names(workloads);
  c.accounts = parse_list<std::uint32_t>(vm["accounts"].as<std::string>());
  c.block_sizes = parse_list<std::uint32_t>(vm["block-size"].as<std::string>());
  c.threads = parse_list<int>(vm["threads"].as<std::string>());
  c.works = parse_list<std::uint32_t>(vm["work"].as<std::string>());
  c.runs = std::max(1, vm["runs"].as<int>());
  c.warmups = std::max(0, vm["warmups"].as<int>());
  c.skew = vm["skew"].as<double>();
  c.seed = vm["seed"].as<std::uint64_t>();
  c.end_to_end = vm["end-to-end"].as<bool>();
  if (std::count(c.threads.begin(), c.threads.end(), 0)) return fail("bench", "--threads values must be >= 1");
  const bool json = vm["json"].as<bool>();
  if (!json) std::cout << bench::format_header() << "\n";
  auto rows = bench::run_bench(c, [json](const bench::BenchRow& row) {
    std::cout << (json ? row.to_json().dump() : bench::format_row(row)) << std::endl;
  });
  if (!rows.is_ok()) return fail("bench", rows.status());
  if (std::string note = bench::starvation_note(*rows); !note.empty() && !json) std::cout << note << "\n";
  if (vm.count("plot")) {
    Status s = bench::plot(*rows, vm["plot"].as<std::string>());
    if (!s.is_ok()) return fail("bench", s);
    if (!json) std::cout << "plot written to " << vm["plot"].as<std::string>() << "\n";
  }
  return 0;
}

// ---- demo -------------------------------------------------------------------------------------

void demo_options(po::options_description& d) {
  d.add_options()("threads", po::value<int>()->default_value(2), "Block-STM workers")
      ("blocks", po::value<std::uint64_t>()->default_value(5), "blocks to produce")
      ("block-size", po::value<std::uint32_t>()->default_value(2000), "transactions per block")
      ("accounts", po::value<std::uint32_t>()->default_value(10000), "genesis accounts (low contention)")
      ("workload", po::value<std::string>()->default_value("mix"), "workload to produce")
      ("keep", po::value<std::string>(), "keep the chain in this directory instead of a temporary one");
}

int demo_run(const po::variables_map& vm) {
  namespace fs = std::filesystem;
  const int threads = vm["threads"].as<int>();
  std::string dir = vm.count("keep") ? vm["keep"].as<std::string>()
                                     : (fs::temp_directory_path() / ("pel-demo-" + std::to_string(::getpid()))).string();
  const bool temporary = !vm.count("keep");
  struct Cleanup {
    std::string dir;
    bool active;
    ~Cleanup() {
      if (active) fs::remove_all(dir);
    }
  } cleanup{dir, temporary};
  if (temporary) fs::remove_all(dir);

  ledger::GenesisParams g;
  g.accounts = vm["accounts"].as<std::uint32_t>();
  ChainOptions options;
  options.datadir = dir;
  options.threads = threads;
  std::printf("pel demo: %s workload, %llu blocks x %u transactions over %u accounts, %d threads\n",
              vm["workload"].as<std::string>().c_str(), static_cast<unsigned long long>(vm["blocks"].as<std::uint64_t>()),
              vm["block-size"].as<std::uint32_t>(), g.accounts, threads);
  std::printf("1. genesis in %s\n", dir.c_str());
  auto chain = Chain::create(options, g);
  if (!chain.is_ok()) return fail("demo", chain.status());

  std::printf("2. producing blocks: signatures checked in parallel, Block-STM execution, one synced LevelDB batch per block, written while the next block executes\n");
  ProduceParams p;
  p.workload.name = vm["workload"].as<std::string>();
  p.workload.accounts = g.accounts;
  p.workload.block_size = vm["block-size"].as<std::uint32_t>();
  p.blocks = vm["blocks"].as<std::uint64_t>();
  auto produced = produce(**chain, p, [](const ExecutedBlock& b) {
    std::printf("   block %llu committed: %u txns, %.2f executions/txn, %llu aborts\n",
                static_cast<unsigned long long>(b.block.header.height), b.block.header.transaction_count,
                b.stats.transactions ? static_cast<double>(b.stats.executions) / b.stats.transactions : 0.0,
                static_cast<unsigned long long>(b.stats.aborts));
  });
  if (!produced.is_ok()) return fail("demo", produced.status());

  std::printf("3. replaying the stored chain from genesis, verifying every root, sequential and parallel\n");
  ReplayOptions ro;
  ro.threads = threads;
  ro.compare_sequential = true;
  auto replayed = replay(**chain, ro);
  if (!replayed.is_ok()) return fail("demo", replayed.status());
  Status verified = (*chain)->verify_state();
  if (!verified.is_ok()) return fail("demo", verified);

  const double n = static_cast<double>(replayed->transactions);
  const double seq_tps = per_second(n, replayed->sequential_exec_s);
  const double par_tps = per_second(n, replayed->parallel_exec_s);
  std::printf("\n   %-34s %12s\n", "", "tx/s");
  std::printf("   %-34s %12.0f\n", "execution, sequential", seq_tps);
  std::printf("   %-34s %12.0f   speedup %.2fx\n", ("execution, Block-STM " + std::to_string(threads) + " threads").c_str(),
              par_tps, seq_tps > 0 ? par_tps / seq_tps : 0.0);
  std::printf("   %-34s %12.0f\n", "produce end to end (sig+exec+commit)",
              per_second(static_cast<double>(produced->transactions), produced->seconds));
  std::printf("   %-34s %12.0f\n", "replay end to end (sig+exec+verify)", per_second(n, replayed->seconds));
  std::printf("   %-34s %12.0f ns  (Block-STM's speedup on cheap transactions follows this; see bench/README.md)\n",
              "cross-core cache-line round trip", bench::core_round_trip_ns());
  std::printf("\n   %llu blocks verified: every transaction, receipts and state root matched; head %s\n",
              static_cast<unsigned long long>(replayed->blocks), (*chain)->head_hash().hex().c_str());
  return 0;
}

const Command kCommands[] = {
    {"init", "create a chain directory with a genesis", init_options, init_run},
    {"produce", "generate blocks from a workload, execute them in parallel, commit each", produce_options, produce_run},
    {"export", "write stored blocks to a file", export_options, export_run},
    {"import", "verify, execute and commit the blocks of a file", import_options, import_run},
    {"replay", "re-execute the stored chain and verify every header's roots", replay_options, replay_run},
    {"inspect", "show the head, a block or an account", inspect_options, inspect_run, "what"},
    {"bench", "sequential vs Block-STM throughput over a grid of workloads", bench_options, bench_run},
    {"demo", "make a chain, produce blocks in parallel, replay them, print throughput", demo_options, demo_run},
};

}  // namespace

const Command* find_command(const std::string& name) {
  for (const Command& c : kCommands) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

int run_command(const Command& cmd, const std::vector<std::string>& args) {
  po::options_description desc(std::string("pel ") + cmd.name + ": " + cmd.summary + "\n\noptions");
  desc.add_options()("help,h", "show this help");
  cmd.add_options(desc);
  po::positional_options_description positional;
  if (cmd.positional) positional.add(cmd.positional, -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "pel " << cmd.name << ": error: " << e.what() << " (see pel " << cmd.name << " --help)\n";
    return 2;
  }
  try {
    return cmd.run(vm);
  } catch (const po::error& e) {
    std::cerr << "pel " << cmd.name << ": error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    // Out of memory or a broken environment: still one line and a non-zero status.
    std::cerr << "pel " << cmd.name << ": error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace pel::cli
