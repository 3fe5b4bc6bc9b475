// Micro-benchmarks for the crypto layer's hot paths.
#include <benchmark/benchmark.h>

#include <vector>

#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "crypto/lattice_hash.hpp"

namespace pel {
namespace {

void BM_Sha256(benchmark::State& state) {
  Bytes data(static_cast<std::size_t>(state.range(0)), 0xab);
  for (auto _ : state) benchmark::DoNotOptimize(sha256(data));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Sha256)->Arg(32)->Arg(1024);

Seed seed_of(std::uint8_t n) {
  Seed s{};
  s.fill(n);
  return s;
}

void BM_Ed25519Verify(benchmark::State& state) {
  KeyPair kp = *KeyPair::from_seed(seed_of(1));
  Bytes msg(100, 0x42);
  Signature sig = *kp.sign(msg);
  for (auto _ : state) {
    if (!verify(kp.public_key(), msg, sig).is_ok()) state.SkipWithError("verify failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Ed25519Verify);

// 1,000 signatures under 16 keys, verified with verify_batch on range(0) threads.
void BM_Ed25519VerifyBatch1000(benchmark::State& state) {
  constexpr std::size_t kCount = 1000;
  std::vector<KeyPair> keys;
  for (std::uint8_t i = 0; i < 16; ++i) keys.push_back(*KeyPair::from_seed(seed_of(i)));
  std::vector<Bytes> msgs(kCount);
  std::vector<Signature> sigs(kCount);
  std::vector<VerifyItem> items(kCount);
  for (std::size_t i = 0; i < kCount; ++i) {
    msgs[i] = Bytes(100, static_cast<std::uint8_t>(i));
    sigs[i] = *keys[i % 16].sign(msgs[i]);
    items[i] = {&keys[i % 16].public_key(), msgs[i], &sigs[i]};
  }
  const int threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
    auto ok = verify_batch(items, threads);
    benchmark::DoNotOptimize(ok.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kCount));
}
BENCHMARK(BM_Ed25519VerifyBatch1000)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LatticeAdd(benchmark::State& state) {
  LatticeHash h;
  Bytes elem(64, 0);
  std::uint64_t i = 0;
  for (auto _ : state) {
    elem[0] = static_cast<std::uint8_t>(i);
    elem[1] = static_cast<std::uint8_t>(i >> 8);
    ++i;
    h.add(elem);
  }
  benchmark::DoNotOptimize(h);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_LatticeAdd);

void BM_LatticeCombine(benchmark::State& state) {
  LatticeHash a = LatticeHash::of(as_bytes("a"));
  LatticeHash b = LatticeHash::of(as_bytes("b"));
  for (auto _ : state) {
    a.combine(b);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_LatticeCombine);

}  // namespace
}  // namespace pel

BENCHMARK_MAIN();
