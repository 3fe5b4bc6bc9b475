#include "node/cli/commands.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <optional>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bench/harness/bench.hpp"
#include "bench/harness/replay_comparison.hpp"
#include "engine/ledger/genesis.hpp"
#include "engine/ledger/records.hpp"
#include "engine/ledger/state_keys.hpp"
#include "engine/ledger/workload.hpp"
#include "node/block_file.hpp"
#include "node/chain.hpp"
#include "node/replay.hpp"
#include "node/snapshot.hpp"
#include "node/producer.hpp"

namespace pel::cli {
namespace po = boost::program_options;
namespace {

int fail(const std::string& command, const std::string& message) {
  std::cerr << "pel " << command << ": error: " << message << "\n";
  return 1;
}

int fail(const std::string& command, const Status& status) { return fail(command, status.to_string()); }

// Numbers are taken as text and parsed here, strictly: Boost's lexical_cast turns "-1" into
// 2^64-1 for an unsigned option and checks no range. Every number must be plain decimal digits
// (a '-' only where negative values are allowed) inside the option's range, or it is a usage
// error (exit 2) that states the range.
template <typename T>
T parse_number(const std::string& what, const std::string& text, T min, T max) {
  T value{};
  const char* end = text.data() + text.size();
  auto [stop, ec] = std::from_chars(text.data(), end, value);
  // Written so that NaN, which compares false with everything, is out of range too.
  if (text.empty() || ec != std::errc() || stop != end || !(value >= min && value <= max)) {
    std::ostringstream range;
    range << what << " must be " << (std::is_integral_v<T> ? "an integer" : "a number") << " from " << min << " to "
          << max << ", not '" << text << "'";
    throw po::error(range.str());
  }
  return value;
}

template <typename T>
T number(const po::variables_map& vm, const char* name, T min, T max) {
  return parse_number<T>(std::string("--") + name, vm[name].as<std::string>(), min, max);
}

template <typename T>
std::vector<T> parse_list(const po::variables_map& vm, const char* name, T min, T max) {
  const std::string& text = vm[name].as<std::string>();
  std::vector<T> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(parse_number<T>(std::string("--") + name, item, min, max));
  }
  if (out.empty()) throw po::error(std::string("--") + name + ": empty list '" + text + "'");
  return out;
}

// The ranges of the numeric options. The upper bounds keep a run inside what a machine can hold
// (a 1,000,000-transaction block needs about 2 GiB). A chain's genesis is streamed to disk, so
// init and produce take up to 10,000,000 accounts (about 130 million state keys); `bench` and
// `demo` hold their whole state in memory (about 3.5 GiB per 1,000,000 accounts), so they stop
// at 1,000,000. --sync-every is bounded too: blocks wait in memory until synced.
constexpr int kMaxThreads = 256;
constexpr std::uint32_t kMaxBlockSize = 1'000'000;
constexpr std::uint32_t kMaxChainAccounts = 10'000'000;
constexpr std::uint32_t kMaxInMemoryAccounts = 1'000'000;
constexpr std::uint64_t kMaxBlocks = 1'000'000'000;
constexpr std::uint64_t kMaxU64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint32_t kMaxU32 = std::numeric_limits<std::uint32_t>::max();

std::vector<std::string> parse_names(const char* name, const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  if (out.empty()) throw po::error(std::string("--") + name + ": empty list '" + text + "'");
  return out;
}

ChainOptions chain_options(const po::variables_map& vm) {
  ChainOptions o;
  o.datadir = vm["datadir"].as<std::string>();
  if (vm.count("threads")) o.threads = number<int>(vm, "threads", 1, kMaxThreads);
  return o;
}

void add_read_latency(po::options_description& d) {
  d.add_options()("inject-read-latency-us", po::value<std::string>()->default_value("0"),
                  "benchmarks: make every read of a database table file wait this long first, as a disk "
                  "the page cache does not hold would (0 to 100,000)");
}

void add_prefetch_readers(po::options_description& d) {
  d.add_options()("prefetch-readers", po::value<std::string>()->default_value("16"),
                  "threads that read the keys a block's access list names before it executes (0: none; up to 1024)");
}

void add_history(po::options_description& d) {
  d.add_options()("history", po::value<std::string>()->default_value("all"),
                  "blocks of state history to keep below the head for replay and state reads: "
                  "all (an archive) or N (older history is removed as blocks commit)");
}

std::optional<std::uint64_t> history_blocks(const po::variables_map& vm) {
  const std::string& text = vm["history"].as<std::string>();
  if (text == "all") return std::nullopt;
  try {
    return parse_number<std::uint64_t>("--history", text, 0, kMaxBlocks);
  } catch (const po::error&) {
    throw po::error("--history must be all or a number of blocks from 0 to " + std::to_string(kMaxBlocks) +
                    ", not '" + text + "'");
  }
}

// "--from H --to H": both heights, the second not below the first.
void check_height_range(std::uint64_t from, std::optional<std::uint64_t> to) {
  if (to && *to < from) {
    throw po::error("--to " + std::to_string(*to) + " is below --from " + std::to_string(from));
  }
}

// Closes the chain, reporting a failure to make the last blocks durable.
int close_chain(const char* command, Chain& chain, int status) {
  Status closed = chain.close();
  if (!closed.is_ok() && status == 0) return fail(command, closed);
  return status;
}

void add_datadir(po::options_description& d) {
  d.add_options()("datadir", po::value<std::string>()->required(), "chain directory");
}

double per_second(double count, double seconds) { return seconds > 0 ? count / seconds : 0; }

// ---- init -------------------------------------------------------------------------------------

void init_options(po::options_description& d) {
  add_datadir(d);
  d.add_options()("accounts", po::value<std::string>()->default_value("1000"), "funded genesis accounts (2 to 10,000,000)")
      ("seed", po::value<std::string>()->default_value("1"), "genesis seed (account keys derive from it)")
      ("chain-id", po::value<std::string>()->default_value("1"), "chain id (replay protection)")
      ("producer", po::value<std::string>(),
       "the producer's public key (64 hex digits, from `pel inspect genesis` of its chain): this chain "
       "imports its blocks; without it, a new random producer key is made in DATADIR/producer.key")
      ("snapshot", po::value<std::string>(),
       "make the chain from a snapshot (pel snapshot) instead: the state at the snapshot's block, which "
       "must be signed by the genesis producer and hash to that block's state root");
}

int init_from_snapshot(const po::variables_map& vm) {
  for (const char* genesis_option : {"accounts", "seed", "chain-id", "producer"}) {
    if (vm.count(genesis_option) && !vm[genesis_option].defaulted()) {
      throw po::error(std::string("--") + genesis_option + " with --snapshot: the snapshot carries its genesis");
    }
  }
  auto reader = SnapshotReader::open(vm["snapshot"].as<std::string>());
  if (!reader.is_ok()) return fail("init", reader.status());
  auto chain = Chain::create_from_snapshot(chain_options(vm), **reader);
  if (!chain.is_ok()) return fail("init", chain.status());
  std::cout << "initialized " << vm["datadir"].as<std::string>() << " from the snapshot of height "
            << (*chain)->head().height << ": block " << (*chain)->head_hash().hex() << ", state root "
            << (*chain)->head().state_root.hex() << "\nproducer " << (*chain)->genesis().producer.hex()
            << " (this chain imports its blocks)\n";
  return close_chain("init", **chain, 0);
}

int init_run(const po::variables_map& vm) {
  if (vm.count("snapshot")) return init_from_snapshot(vm);
  ledger::GenesisParams g;
  g.accounts = number<std::uint32_t>(vm, "accounts", 2, kMaxChainAccounts);
  g.seed = number<std::uint64_t>(vm, "seed", 0, kMaxU64);
  g.chain_id = number<std::uint32_t>(vm, "chain-id", 0, kMaxU32);
  if (vm.count("producer")) {
    auto bytes = from_hex(vm["producer"].as<std::string>());
    auto key = bytes.is_ok() ? PublicKey::from_bytes(*bytes) : Result<PublicKey>(bytes.status());
    // All zeros included: it would mean "no producer named" (a new random key), not this one.
    Status usable = key.is_ok() ? check_public_key(*key) : key.status();
    if (!usable.is_ok()) throw po::error("--producer: " + usable.message());
    g.producer = *key;
  }
  auto chain = Chain::create(chain_options(vm), g);
  if (!chain.is_ok()) return fail("init", chain.status());
  std::cout << "initialized " << vm["datadir"].as<std::string>() << ": " << g.accounts
            << " accounts, genesis " << (*chain)->head_hash().hex() << ", state root "
            << (*chain)->head().state_root.hex() << "\nproducer " << (*chain)->genesis().producer.hex()
            << ((*chain)->can_produce() ? " (its key is in " + vm["datadir"].as<std::string>() + "/" + kProducerKeyFile + ")"
                                        : " (this chain imports its blocks)")
            << "\n";
  return close_chain("init", **chain, 0);
}

// ---- produce ----------------------------------------------------------------------------------

void produce_options(po::options_description& d) {
  add_datadir(d);
  add_history(d);
  d.add_options()("workload", po::value<std::string>()->required(), "p2p, token, swap, nft, staking, dao, airdrop or mix")
      ("blocks", po::value<std::string>()->default_value("10"), "blocks to produce (1 to 1,000,000,000)")
      ("block-size", po::value<std::string>()->default_value("1000"), "transactions per block (1 to 1,000,000)")
      ("accounts", po::value<std::string>(), "accounts used (contention); default: every genesis account")
      ("threads", po::value<std::string>()->default_value("2"), "Block-STM workers (1 to 256)")
      ("seed", po::value<std::string>()->default_value("1"), "workload seed")
      ("skew", po::value<std::string>()->default_value("0"), "hot-spot skew (Zipf exponent, 0 = uniform, up to 10)")
      ("invalid-fraction", po::value<std::string>()->default_value("0"), "share of deliberately invalid transactions (0 to 1)")
      ("sync-every", po::value<std::string>()->default_value("1"),
       "sync the database every N blocks; a block is reported once it is synced")
      ("no-pipeline", po::bool_switch(), "commit each block before executing the next")
      ("conflicts", po::bool_switch(), "after each block, the keys that caused the most aborts and waits")
      ("quiet", po::bool_switch(), "print only the summary");
}

int produce_run(const po::variables_map& vm) {
  ChainOptions options = chain_options(vm);
  options.sync_every_blocks = number<std::uint32_t>(vm, "sync-every", 1, 1000);
  options.history_blocks = history_blocks(vm);
  ProduceParams p;
  p.workload.name = vm["workload"].as<std::string>();
  p.workload.block_size = number<std::uint32_t>(vm, "block-size", 1, kMaxBlockSize);
  const std::uint32_t accounts = vm.count("accounts") ? number<std::uint32_t>(vm, "accounts", 2, kMaxChainAccounts) : 0;
  p.workload.seed = number<std::uint64_t>(vm, "seed", 0, kMaxU64);
  p.workload.skew = number<double>(vm, "skew", 0.0, 10.0);
  p.workload.invalid_fraction = number<double>(vm, "invalid-fraction", 0.0, 1.0);
  p.blocks = number<std::uint64_t>(vm, "blocks", 1, kMaxBlocks);
  auto chain = Chain::open(options);
  if (!chain.is_ok()) return fail("produce", chain.status());
  p.workload.accounts = accounts != 0 ? accounts : (*chain)->genesis().accounts;
  p.pipeline = !vm["no-pipeline"].as<bool>();
  const bool quiet = vm["quiet"].as<bool>();
  const bool conflicts = vm["conflicts"].as<bool>();
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
    if (conflicts) {
      for (const KeyConflicts& k : b.stats.hot_keys) {
        std::printf("  conflicts on %s: %llu aborts, %llu waits\n", k.key.hex().c_str(),
                    static_cast<unsigned long long>(k.aborts), static_cast<unsigned long long>(k.waits));
      }
      if (b.stats.path == ExecutionPath::kFellBack || b.stats.path == ExecutionPath::kLoopAfterLoss) {
        std::printf("  (the plain loop ran %s: Block-STM lost to it here or on the block before)\n",
                    b.stats.kept_on_fallback > 0 ? "the rest of this block" : "this block");
      }
      if (b.stats.path == ExecutionPath::kLoopProbe) std::printf("  (the plain loop ran this block to measure its cost, the fallback's yardstick)\n");
    }
    std::fflush(stdout);
  });
  if (!summary.is_ok()) {
    static_cast<void>((*chain)->close());  // syncs what was written: the error says so already
    std::cerr << "pel produce: blocks up to " << (*chain)->durable_height() << " are durable\n";
    return fail("produce", summary.status());
  }
  std::printf("produced %llu blocks, %llu transactions in %.2f s: %.0f tps end to end; head %llu %s (durable)\n",
              static_cast<unsigned long long>(summary->blocks), static_cast<unsigned long long>(summary->transactions),
              summary->seconds, per_second(static_cast<double>(summary->transactions), summary->seconds),
              static_cast<unsigned long long>((*chain)->head().height), (*chain)->head_hash().hex().c_str());
  return close_chain("produce", **chain, 0);
}

// ---- export / import --------------------------------------------------------------------------

void export_options(po::options_description& d) {
  add_datadir(d);
  d.add_options()("out", po::value<std::string>()->required(), "file to write")
      ("from", po::value<std::string>()->default_value("1"), "first height (at least 1)")
      ("to", po::value<std::string>(), "last height (default: the head)");
}

int export_run(const po::variables_map& vm) {
  const std::uint64_t from = number<std::uint64_t>(vm, "from", 1, kMaxU64);
  const std::optional<std::uint64_t> last =
      vm.count("to") ? std::optional(number<std::uint64_t>(vm, "to", 1, kMaxU64)) : std::nullopt;
  check_height_range(from, last);
  auto chain = Chain::open(chain_options(vm));
  if (!chain.is_ok()) return fail("export", chain.status());
  const std::uint64_t to = last.value_or((*chain)->head().height);
  const std::string out = vm["out"].as<std::string>();
  Status s = export_blocks(**chain, out, from, to);
  if (!s.is_ok()) return fail("export", s);
  std::cout << "exported blocks " << from << ".." << to << " to " << out << "\n";
  return 0;
}

void import_options(po::options_description& d) {
  add_datadir(d);
  add_history(d);
  add_read_latency(d);
  add_prefetch_readers(d);
  d.add_options()("in", po::value<std::string>()->required(), "block file made by pel export")
      ("threads", po::value<std::string>()->default_value("2"), "Block-STM workers (1 to 256)")
      ("sync-every", po::value<std::string>()->default_value("1"),
       "sync the database every N blocks; a block is reported once it is synced")
      ("skip-signatures", po::bool_switch(),
       "trust the file's signatures (assume valid); a block with a discarded bad signature then fails its receipts root")
      ("expect-head", po::value<std::string>(), "fail unless the import ends at the block with this hash")
      ("no-pipeline", po::bool_switch(), "commit each block before executing the next")
      ("no-access-list", po::bool_switch(),
       "execute with plain Block-STM instead of from each block's access list (the list is still checked)");
}

int import_run(const po::variables_map& vm) {
  ChainOptions options = chain_options(vm);
  options.database.table_read_latency_us = number<std::uint32_t>(vm, "inject-read-latency-us", 0, 100'000);
  options.prefetch_readers = number<int>(vm, "prefetch-readers", 0, 1024);
  options.sync_every_blocks = number<std::uint32_t>(vm, "sync-every", 1, 1000);
  options.history_blocks = history_blocks(vm);
  options.signatures = vm["skip-signatures"].as<bool>() ? SignaturePolicy::kAssumeValid : SignaturePolicy::kVerify;
  options.use_access_lists = !vm["no-access-list"].as<bool>();
  std::optional<Hash256> expect_head;
  if (vm.count("expect-head")) {
    auto hash = Hash256::from_hex(vm["expect-head"].as<std::string>());
    if (!hash.is_ok()) throw po::error("--expect-head: not a block hash: " + hash.status().message());
    expect_head = *hash;
  }
  auto chain = Chain::open(options);
  if (!chain.is_ok()) return fail("import", chain.status());
  std::uint64_t blocks = 0, skipped = 0, txns = 0;
  ImportOptions io;
  io.pipeline = !vm["no-pipeline"].as<bool>();
  io.on_block = [&](const Block& b) {
    ++blocks;
    txns += b.transactions.size();
  };
  io.on_skip = [&](const Block&) { ++skipped; };
  auto start = std::chrono::steady_clock::now();
  Status s = import_blocks(**chain, vm["in"].as<std::string>(), io);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!s.is_ok()) {
    static_cast<void>((*chain)->close());  // syncs what was written: the error says so already
    std::cerr << "pel import: imported " << blocks << " blocks before the error; head stays at "
              << (*chain)->durable_height() << "\n";
    return fail("import", s);
  }
  std::printf("imported %llu blocks, %llu transactions in %.2f s (%.0f tps)%s; head %llu %s\n",
              static_cast<unsigned long long>(blocks), static_cast<unsigned long long>(txns), secs,
              per_second(static_cast<double>(txns), secs),
              skipped ? (", skipped " + std::to_string(skipped) + " already stored").c_str() : "",
              static_cast<unsigned long long>((*chain)->head().height), (*chain)->head_hash().hex().c_str());
  if (expect_head && (*chain)->head_hash() != *expect_head) {
    return close_chain("import", **chain,
                       fail("import", "the import ended at " + (*chain)->head_hash().hex() + " (height " +
                                          std::to_string((*chain)->head().height) + "), not at the expected head " +
                                          expect_head->hex()));
  }
  return close_chain("import", **chain, 0);
}

// ---- replay -----------------------------------------------------------------------------------

void replay_options(po::options_description& d) {
  add_datadir(d);
  add_read_latency(d);
  add_prefetch_readers(d);
  d.add_options()("from", po::value<std::string>()->default_value("1"), "first height to re-execute (at least 1)")
      ("to", po::value<std::string>(), "last height (default: the head)")
      ("threads", po::value<std::string>()->default_value("2"), "Block-STM workers (1 to 256)")
      ("compare-sequential", po::bool_switch(),
       "also execute sequentially (and with plain Block-STM), require equality, report the speedups")
      ("skip-signatures", po::bool_switch(), "trust signatures checked at import (assume valid)")
      ("no-access-list", po::bool_switch(),
       "execute with plain Block-STM instead of from each block's access list (the list is still checked)");
}

int replay_run(const po::variables_map& vm) {
  ReplayOptions o;
  o.from = number<std::uint64_t>(vm, "from", 1, kMaxU64);
  if (vm.count("to")) o.to = number<std::uint64_t>(vm, "to", 1, kMaxU64);
  check_height_range(o.from, o.to);
  o.threads = number<int>(vm, "threads", 1, kMaxThreads);
  o.prefetch_readers = number<int>(vm, "prefetch-readers", 0, 1024);
  ChainOptions options = chain_options(vm);
  options.database.table_read_latency_us = number<std::uint32_t>(vm, "inject-read-latency-us", 0, 100'000);
  auto chain = Chain::open(options);
  if (!chain.is_ok()) return fail("replay", chain.status());
  o.use_access_lists = !vm["no-access-list"].as<bool>();
  o.signatures = vm["skip-signatures"].as<bool>() ? SignaturePolicy::kAssumeValid : SignaturePolicy::kVerify;
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
  const bool compare = vm["compare-sequential"].as<bool>();
  std::optional<bench::ReplayComparison> compared;
  Result<ReplaySummary> s = error(ErrorCode::kAborted, "not replayed");
  if (compare) {
    auto c = bench::compare_replay(**chain, o);
    s = c.is_ok() ? Result<ReplaySummary>(c->summary) : Result<ReplaySummary>(c.status());
    if (c.is_ok()) compared = std::move(c).value();
  } else {
    s = replay(**chain, o);
  }
  if (!s.is_ok()) {
    if (tty) std::fprintf(stderr, "\n");
    return fail("replay", s.status());
  }
  std::printf("replay verified %llu blocks, %llu transactions in %.2f s (%.0f tps); every transaction, receipts and state root matched%s\n",
              static_cast<unsigned long long>(s->blocks), static_cast<unsigned long long>(s->transactions), s->seconds,
              per_second(static_cast<double>(s->transactions), s->seconds),
              s->signatures == SignaturePolicy::kAssumeValid ? "; signatures NOT re-checked (--skip-signatures)"
                                                              : "; signatures re-checked");
  const double n = static_cast<double>(s->transactions);
  std::printf("access lists: %llu of %llu block bytes (%.1f%%)%s\n",
              static_cast<unsigned long long>(s->access_list_bytes), static_cast<unsigned long long>(s->block_bytes),
              s->block_bytes ? 100.0 * static_cast<double>(s->access_list_bytes) / static_cast<double>(s->block_bytes) : 0.0,
              s->access_lists ? "; blocks executed from them" : "; blocks executed with plain Block-STM (--no-access-list)");
  if (compared) {
    auto speedup = [&](double secs) { return secs > 0 ? compared->sequential_exec_s / secs : 0.0; };
    std::printf("execution (%d threads): sequential %.0f tps", o.threads, per_second(n, compared->sequential_exec_s));
    const double block_stm_s = compared->block_stm_exec_s;
    std::printf("; Block-STM %.0f tps, speedup %.2fx", per_second(n, block_stm_s), speedup(block_stm_s));
    if (s->access_lists) {
      std::printf("; from access lists %.0f tps, speedup %.2fx", per_second(n, s->parallel_exec_s),
                  speedup(s->parallel_exec_s));
    }
    std::printf("; %.2f executions/txn, %.2f validations/txn\n",
                n > 0 ? static_cast<double>(s->stats.executions) / n : 0.0,
                n > 0 ? static_cast<double>(s->stats.validations) / n : 0.0);
  }
  return 0;
}

// ---- inspect ----------------------------------------------------------------------------------

void inspect_options(po::options_description& d) {
  add_datadir(d);
  d.add_options()("what", po::value<std::vector<std::string>>()->required(), "head | genesis | block H | account ADDR")
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
          {"access_list_root", h.access_list_root.hex()},
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
  if (what[0] == "genesis" && what.size() == 1) {
    const ledger::GenesisParams& g = (*chain)->genesis();
    print_json_or_text({{"hash", (*chain)->block_at(0).is_ok() ? (*chain)->block_at(0)->header.hash().hex() : ""},
                        {"seed", g.seed},
                        {"accounts", g.accounts},
                        {"chain_id", g.chain_id},
                        {"producer", g.producer.hex()},
                        {"can_produce", (*chain)->can_produce()}},
                       json);
    return 0;
  }
  if (what[0] == "block" && what.size() == 2) {
    const std::uint64_t height = parse_number<std::uint64_t>("block height", what[1], 0, kMaxU64);
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
    j["access_list_bytes"] = block->access_list.size();
    j["block_bytes"] = block->encode().size();
    print_json_or_text(j, json);
    return 0;
  }
  if (what[0] == "account" && what.size() == 2) {
    auto address = Address::from_hex(what[1]);
    if (!address.is_ok()) return fail("inspect", "not an address: '" + what[1] + "': " + address.status().message());
    auto stored = (*chain)->get_state(ledger::account_key(*address));
    if (!stored.is_ok()) return fail("inspect", stored.status());
    const std::optional<Value>& value = *stored;
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
  return fail("inspect", "expected `head`, `genesis`, `block H` or `account ADDR`");
}

// ---- bench ------------------------------------------------------------------------------------

void bench_options(po::options_description& d) {
  d.add_options()("workload", po::value<std::string>()->default_value("p2p"), "comma list of workloads, or 'all'")
      ("accounts", po::value<std::string>()->default_value("10000"), "comma list (contention levels)")
      ("block-size", po::value<std::string>()->default_value("10000"), "comma list")
      ("threads", po::value<std::string>()->default_value("1,2"), "comma list of Block-STM worker counts")
      ("work", po::value<std::string>()->default_value("0"), "comma list: SHA-256 rounds added to every transaction")
      ("runs", po::value<std::string>()->default_value("3"), "timed runs per point (medians; 1 to 1000)")
      ("warmups", po::value<std::string>()->default_value("1"), "untimed runs per point (0 to 1000)")
      ("skew", po::value<std::string>()->default_value("0"), "hot-spot skew (0 to 10)")
      ("seed", po::value<std::string>()->default_value("1"), "workload seed")
      ("end-to-end", po::bool_switch(), "include signature checking and the LevelDB commit on both sides")
      ("declarations", po::value<std::string>()->default_value("off"),
       "off, hot or all: which of the VM's declared writes Block-STM waits on (in-memory runs)")
      ("fallback", po::value<std::string>()->default_value("1"),
       "the contention fallback's speedup to hold Block-STM to, 0 to 100; 0 turns it off (in-memory runs)")
      ("json", po::bool_switch(), "one JSON object per row instead of the table")
      ("plot", po::value<std::string>(), "draw speedup plots to this PNG file (gnuplot)");
}

int bench_run(const po::variables_map& vm) {
  bench::BenchConfig c;
  std::string workloads = vm["workload"].as<std::string>();
  c.workloads = workloads == "all" ? ledger::workload_names() : parse_names("workload", workloads);
  c.accounts = parse_list<std::uint32_t>(vm, "accounts", 2, kMaxInMemoryAccounts);
  c.block_sizes = parse_list<std::uint32_t>(vm, "block-size", 1, kMaxBlockSize);
  c.threads = parse_list<int>(vm, "threads", 1, kMaxThreads);
  c.works = parse_list<std::uint32_t>(vm, "work", 0, 1'000'000);
  c.runs = number<int>(vm, "runs", 1, 1000);
  c.warmups = number<int>(vm, "warmups", 0, 1000);
  c.skew = number<double>(vm, "skew", 0.0, 10.0);
  c.seed = number<std::uint64_t>(vm, "seed", 0, kMaxU64);
  c.end_to_end = vm["end-to-end"].as<bool>();
  const std::string declarations = vm["declarations"].as<std::string>();
  using Declarations = ParallelOptions::Declarations;
  if (declarations == "off") {
    c.declarations = Declarations::kOff;
  } else if (declarations == "hot") {
    c.declarations = Declarations::kHotKeys;
  } else if (declarations == "all") {
    c.declarations = Declarations::kAll;
  } else {
    throw po::error("--declarations: '" + declarations + "' is not off, hot or all");
  }
  c.fallback_speedup = number<double>(vm, "fallback", 0.0, 100.0);
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
  d.add_options()("threads", po::value<std::string>()->default_value("2"), "Block-STM workers (1 to 256)")
      ("blocks", po::value<std::string>()->default_value("5"), "blocks to produce (1 to 10,000)")
      ("block-size", po::value<std::string>()->default_value("2000"), "transactions per block (1 to 1,000,000)")
      ("accounts", po::value<std::string>()->default_value("10000"), "genesis accounts (low contention; 2 to 1,000,000)")
      ("workload", po::value<std::string>()->default_value("mix"), "workload to produce")
      ("keep", po::value<std::string>(), "keep the chain in this directory instead of a temporary one");
}

int demo_run(const po::variables_map& vm) {
  namespace fs = std::filesystem;
  const int threads = number<int>(vm, "threads", 1, kMaxThreads);
  const std::uint64_t blocks = number<std::uint64_t>(vm, "blocks", 1, 10'000);
  const std::uint32_t block_size = number<std::uint32_t>(vm, "block-size", 1, kMaxBlockSize);
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
  g.accounts = number<std::uint32_t>(vm, "accounts", 2, kMaxInMemoryAccounts);
  ChainOptions options;
  options.datadir = dir;
  options.threads = threads;
  std::printf("pel demo: %s workload, %llu blocks x %u transactions over %u accounts, %d threads\n",
              vm["workload"].as<std::string>().c_str(), static_cast<unsigned long long>(blocks), block_size, g.accounts,
              threads);
  std::printf("1. genesis in %s\n", dir.c_str());
  auto chain = Chain::create(options, g);
  if (!chain.is_ok()) return fail("demo", chain.status());

  std::printf("2. producing blocks: signatures checked in parallel, Block-STM execution, one synced LevelDB batch per block, written while the next block executes\n");
  ProduceParams p;
  p.workload.name = vm["workload"].as<std::string>();
  p.workload.accounts = g.accounts;
  p.workload.block_size = block_size;
  p.blocks = blocks;
  auto produced = produce(**chain, p, [](const ExecutedBlock& b) {
    std::printf("   block %llu committed: %u txns, %.2f executions/txn, %llu aborts\n",
                static_cast<unsigned long long>(b.block.header.height), b.block.header.transaction_count,
                b.stats.transactions ? static_cast<double>(b.stats.executions) / b.stats.transactions : 0.0,
                static_cast<unsigned long long>(b.stats.aborts));
  });
  if (!produced.is_ok()) return fail("demo", produced.status());

  std::printf("3. replaying the stored chain from genesis, verifying every root; each block executed sequentially,\n"
              "   with Block-STM and from its access list, alternately, with nothing else running (the engine alone)\n");
  ReplayOptions ro;
  ro.threads = threads;
  auto compared = bench::compare_replay(**chain, ro);
  if (!compared.is_ok()) return fail("demo", compared.status());
  const ReplaySummary* replayed = &compared->summary;
  Status verified = (*chain)->verify_state();
  if (!verified.is_ok()) return fail("demo", verified);

  const double n = static_cast<double>(replayed->transactions);
  const double seq_tps = per_second(n, compared->sequential_exec_s);
  const double block_stm_tps = per_second(n, compared->block_stm_exec_s);
  const double listed_tps = per_second(n, replayed->parallel_exec_s);
  std::printf("\n   %-34s %12s\n", "", "tx/s");
  std::printf("   %-34s %12.0f\n", "execution, sequential", seq_tps);
  std::printf("   %-34s %12.0f   engine speedup %.2fx", ("execution, Block-STM " + std::to_string(threads) + " threads").c_str(),
              block_stm_tps, seq_tps > 0 ? block_stm_tps / seq_tps : 0.0);
  if (compared->block_stm_loop_blocks > 0) {
    // The contention fallback's plain loop ran these, measuring itself or after a lost block.
    std::printf(" (%llu of the %llu blocks on the fallback's plain loop: its probe, or a lost block)",
                static_cast<unsigned long long>(compared->block_stm_loop_blocks),
                static_cast<unsigned long long>(replayed->blocks));
  }
  std::printf("\n");
  std::printf("   %-34s %12.0f   engine speedup %.2fx (%.1f%% of the block bytes)\n",
              ("execution, access lists " + std::to_string(threads) + " thr").c_str(), listed_tps,
              seq_tps > 0 ? listed_tps / seq_tps : 0.0,
              replayed->block_bytes ? 100.0 * static_cast<double>(replayed->access_list_bytes) /
                                          static_cast<double>(replayed->block_bytes)
                                    : 0.0);
  std::printf("   %-34s %12.0f\n", "produce end to end (sig+exec+commit)",
              per_second(static_cast<double>(produced->transactions), produced->seconds));
  std::printf("   %-34s %12.0f\n", "replay end to end (sig+exec+verify)", per_second(n, replayed->seconds));
  std::printf("   %-34s %12.0f ns  (Block-STM's speedup on cheap transactions follows this; see bench/README.md)\n",
              "cross-core cache-line round trip", bench::core_round_trip_ns());
  std::printf("\n   %llu blocks verified: every transaction, receipts and state root matched; head %s\n",
              static_cast<unsigned long long>(replayed->blocks), (*chain)->head_hash().hex().c_str());
  return 0;
}

// ---- snapshot ---------------------------------------------------------------------------------

void snapshot_options(po::options_description& d) {
  add_datadir(d);
  d.add_options()("at", po::value<std::string>()->required(), "the height whose state to write (a kept height)")
      ("out", po::value<std::string>()->required(), "the snapshot file to write")
      ("chunk-entries", po::value<std::string>()->default_value("10000"),
       "state pairs per hashed chunk (1 to 1,000,000)");
}

int snapshot_run(const po::variables_map& vm) {
  const std::uint64_t at = number<std::uint64_t>(vm, "at", 0, kMaxU64);
  const std::uint32_t per_chunk = number<std::uint32_t>(vm, "chunk-entries", 1, 1'000'000);
  auto chain = Chain::open(chain_options(vm));
  if (!chain.is_ok()) return fail("snapshot", chain.status());
  const std::string out = vm["out"].as<std::string>();
  auto start = std::chrono::steady_clock::now();
  auto written = write_snapshot(**chain, at, out, per_chunk);
  if (!written.is_ok()) return close_chain("snapshot", **chain, fail("snapshot", written.status()));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("snapshot of height %llu: %llu state entries in %llu chunks, %llu bytes, in %.2f s: %s\n",
              static_cast<unsigned long long>(written->height), static_cast<unsigned long long>(written->entries),
              static_cast<unsigned long long>(written->chunks), static_cast<unsigned long long>(written->bytes), secs,
              out.c_str());
  return close_chain("snapshot", **chain, 0);
}

// ---- verify-range -----------------------------------------------------------------------------

void verify_range_options(po::options_description& d) {
  d.add_options()("snapshot", po::value<std::string>()->required(), "the snapshot at the height before the range")
      ("in", po::value<std::string>()->required(), "a block file (pel export) holding the range")
      ("to", po::value<std::string>(), "the range's last height (default: the file's last block)")
      ("workdir", po::value<std::string>(), "where the scratch chain goes (default: the system's temporary directory)")
      ("threads", po::value<std::string>()->default_value("2"), "Block-STM workers (1 to 256)")
      ("skip-signatures", po::bool_switch(), "trust the file's signatures (assume valid)");
}

int verify_range_run(const po::variables_map& vm) {
  std::optional<std::uint64_t> to;
  if (vm.count("to")) to = number<std::uint64_t>(vm, "to", 1, kMaxU64);
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path workdir = vm.count("workdir") ? fs::path(vm["workdir"].as<std::string>()) : fs::temp_directory_path(ec);
  std::string pattern = (workdir / "pel-range-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return fail("verify-range", workdir.string() + ": cannot make a scratch directory: " + std::strerror(errno));
  }
  const std::string scratch = pattern;
  struct RemoveOnExit {
    const std::string& dir;
    ~RemoveOnExit() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);  // the scratch chain is never kept
    }
  } remove_scratch{scratch};
  auto reader = SnapshotReader::open(vm["snapshot"].as<std::string>());
  const std::uint64_t from = reader.is_ok() ? (*reader)->block().header.height + 1 : 0;
  const std::string range = "range " + std::to_string(from) + ".." + (to ? std::to_string(*to) : std::string("end"));
  auto outcome = [&]() -> Status {
    if (!reader.is_ok()) return reader.status();
    if (to && *to < from) return error(ErrorCode::kInvalidArgument, "--to is below the snapshot's next height");
    ChainOptions o;
    o.datadir = scratch + "/chain";
    o.threads = number<int>(vm, "threads", 1, kMaxThreads);
    o.signatures = vm["skip-signatures"].as<bool>() ? SignaturePolicy::kAssumeValid : SignaturePolicy::kVerify;
    o.sync_every_blocks = 1000;  // scratch: nothing here needs to survive a power cut
    auto chain = Chain::create_from_snapshot(o, **reader);
    if (!chain.is_ok()) return chain.status();
    std::uint64_t transactions = 0;
    ImportOptions io;
    io.to = to;
    io.on_block = [&](const Block& b) { transactions += b.transactions.size(); };
    auto start = std::chrono::steady_clock::now();
    Status imported = import_blocks(**chain, vm["in"].as<std::string>(), io);
    const std::uint64_t reached = (*chain)->head().height;
    if (!imported.is_ok()) {
      return error(imported.code(), "failed at height " + std::to_string(reached + 1) + ": " + imported.message());
    }
    if (to && reached < *to) {
      return error(ErrorCode::kNotFound, "failed at height " + std::to_string(reached + 1) + ": the file ends at height " +
                                             std::to_string(reached));
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("range %llu..%llu verified: %llu blocks, %llu transactions in %.2f s\n",
                static_cast<unsigned long long>(from), static_cast<unsigned long long>(reached),
                static_cast<unsigned long long>(reached - from + 1), static_cast<unsigned long long>(transactions), secs);
    return Status::ok();
  }();
  if (!outcome.is_ok()) {
    std::printf("%s %s\n", range.c_str(), outcome.message().c_str());
    return 1;
  }
  return 0;
}

const Command kCommands[] = {
    {"init", "create a chain directory with a genesis", init_options, init_run},
    {"produce", "generate blocks from a workload, execute them in parallel, commit each", produce_options, produce_run},
    {"export", "write stored blocks to a file", export_options, export_run},
    {"import", "verify, execute and commit the blocks of a file", import_options, import_run},
    {"replay", "re-execute the stored chain and verify every header's roots", replay_options, replay_run},
    {"snapshot", "write the state at a height, with its signed block, to a file of hashed chunks", snapshot_options,
     snapshot_run},
    {"verify-range", "verify a range of blocks from a snapshot at the height before it", verify_range_options,
     verify_range_run},
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
  } catch (const std::bad_alloc&) {
    std::cerr << "pel " << cmd.name << ": error: out of memory (lower --block-size, --accounts or --threads, "
                 "or raise the memory limit)\n";
    return 1;
  } catch (const std::exception& e) {
    // A broken environment: still one line and a non-zero status.
    std::cerr << "pel " << cmd.name << ": error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace pel::cli
