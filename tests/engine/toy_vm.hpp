// A toy VM written against the engine's public headers only: each transaction is a little
// program (read keys, mix what it read, write or delete keys, add to counters without reading
// them, maybe fail, maybe throw), generated from a seed. It is the engine's differential oracle
// and proof that any VM plugs in.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/vm.hpp"
#include "state/base_state.hpp"

namespace pel::testing {

inline StateKey toy_key(std::uint64_t index) {
  StateKey k;
  k.bytes[0] = 0x7e;
  for (int i = 0; i < 8; ++i) k.bytes[1 + i] = static_cast<std::uint8_t>(index >> (8 * i));
  return k;
}

/// A base state holding every third of keys 0..keys-1.
inline MemoryState toy_base(std::uint64_t keys) {
  MemoryState base;
  for (std::uint64_t k = 0; k < keys; k += 3) base.put(toy_key(k), "base" + std::to_string(k));
  return base;
}

struct ToyOp {
  enum class Kind { kRead, kWrite, kDelete, kWriteIfEven, kFailIf, kThrowIf, kAdd };
  Kind kind;
  /// kRead / kWrite / kDelete / kWriteIfEven (second key on odd) / kAdd (a delta of what was
  /// read so far, acc % 1000 + 1; to alt_key when acc is odd, so a re-execution may move it)
  std::uint64_t key = 0;
  std::uint64_t alt_key = 0;
  std::uint64_t modulus = 0;  // kFailIf / kThrowIf: fires when acc % modulus == 0
};

struct ToyTxn {
  std::vector<ToyOp> ops;
};

/// Knobs for the generator: how many keys, how skewed, how often the awkward cases appear.
struct ToyWorkload {
  std::uint64_t keys = 100;
  double hot_fraction = 0.0;  // share of accesses that go to key 0
  int max_reads = 4;
  int max_writes = 3;
  double delete_chance = 0.05;
  double conditional_chance = 0.2;  // writes whose key depends on what was read
  double fail_chance = 0.05;
  double throw_chance = 0.0;
  double add_chance = 0.0;  // a write that is a delta instead (see ToyOp::Kind::kAdd)
};

inline std::vector<ToyTxn> make_toy_block(std::uint64_t seed, std::size_t size, const ToyWorkload& w) {
  std::mt19937_64 rng(seed);
  auto pick_key = [&] {
    if (w.hot_fraction > 0 && std::uniform_real_distribution<>(0, 1)(rng) < w.hot_fraction) return std::uint64_t{0};
    return std::uniform_int_distribution<std::uint64_t>(0, w.keys - 1)(rng);
  };
  auto chance = [&](double p) { return std::uniform_real_distribution<>(0, 1)(rng) < p; };
  std::vector<ToyTxn> block(size);
  for (ToyTxn& t : block) {
    int reads = std::uniform_int_distribution<int>(0, w.max_reads)(rng);
    int writes = std::uniform_int_distribution<int>(0, w.max_writes)(rng);
    for (int i = 0; i < reads; ++i) t.ops.push_back({ToyOp::Kind::kRead, pick_key()});
    if (chance(w.fail_chance)) t.ops.push_back({ToyOp::Kind::kFailIf, 0, 0, 3});
    if (chance(w.throw_chance)) t.ops.push_back({ToyOp::Kind::kThrowIf, 0, 0, 2});
    for (int i = 0; i < writes; ++i) {
      if (chance(w.add_chance)) {
        const std::uint64_t key = pick_key();
        t.ops.push_back({ToyOp::Kind::kAdd, key, chance(w.conditional_chance) ? pick_key() : key});
      } else if (chance(w.conditional_chance)) {
        t.ops.push_back({ToyOp::Kind::kWriteIfEven, pick_key(), pick_key()});
      } else if (chance(w.delete_chance)) {
        t.ops.push_back({ToyOp::Kind::kDelete, pick_key()});
      } else {
        t.ops.push_back({ToyOp::Kind::kWrite, pick_key()});
      }
    }
  }
  return block;
}

/// The toy's counter: "n=<decimal>"; no value counts 0, any other value its length.
inline std::uint64_t toy_counter(const std::optional<Value>& v) {
  if (!v) return 0;
  if (v->rfind("n=", 0) == 0) return std::stoull(v->substr(2));
  return v->size();
}

class ToyVm final : public Vm {
 public:
  /// Counters above `counter_bound` cannot be applied (Vm::apply_delta throws). Not `additive`,
  /// an application doubles the base before adding (apply(apply(b, x), y) != apply(b, x + y)).
  explicit ToyVm(std::vector<ToyTxn> txns, std::uint64_t counter_bound = ~std::uint64_t{0}, bool additive = true)
      : txns_(std::move(txns)), counter_bound_(counter_bound), additive_(additive) {}

  Value apply_delta(const StateKey& key, const std::optional<Value>& base, DeltaSum total) const override {
    const DeltaSum sum = additive_ ? total + toy_counter(base) : total + 2 * static_cast<DeltaSum>(toy_counter(base) % (1ull << 40));
    if (sum > counter_bound_) throw std::runtime_error("toy counter " + key.hex().substr(0, 6) + " over its bound");
    return "n=" + std::to_string(static_cast<std::uint64_t>(sum));
  }

  TxnOutput execute(TxnIndex txn, StateReader& reader) const override {
    std::uint64_t acc = 0xcbf29ce484222325ull ^ txn;
    auto mix = [&acc](const std::string& bytes) {
      for (unsigned char c : bytes) acc = (acc ^ c) * 0x100000001b3ull;
      acc = (acc ^ bytes.size()) * 0x100000001b3ull;
    };
    TxnOutput out;
    auto write = [&](std::uint64_t key, std::optional<Value> value) {
      StateKey k = toy_key(key);
      for (Write& w : out.writes) {
        if (w.key == k) {
          w.value = std::move(value);
          return;
        }
      }
      out.writes.push_back({k, std::move(value)});
    };
    for (const ToyOp& op : txns_.at(txn).ops) {
      switch (op.kind) {
        case ToyOp::Kind::kRead: {
          auto v = reader.read(toy_key(op.key));
          mix(v ? *v : std::string("<none>"));
          break;
        }
        case ToyOp::Kind::kWrite:
          write(op.key, std::to_string(acc % 1000003) + "/" + std::to_string(txn));
          break;
        case ToyOp::Kind::kDelete:
          write(op.key, std::nullopt);
          break;
        case ToyOp::Kind::kWriteIfEven:
          write(acc % 2 == 0 ? op.key : op.alt_key, "c" + std::to_string(acc % 997));
          break;
        case ToyOp::Kind::kFailIf:
          if (acc % op.modulus == 0) {
            out.writes.clear();
            out.deltas.clear();
            out.receipt = "failed acc=" + std::to_string(acc);
            return out;
          }
          break;
        case ToyOp::Kind::kThrowIf:
          if (acc % op.modulus == 0) throw std::runtime_error("toy vm refuses acc " + std::to_string(acc));
          break;
        case ToyOp::Kind::kAdd: {
          // Two adds to one key are one delta; an add to a key this transaction also writes
          // makes the output a vm_error (call_vm), which both executors must agree on too.
          const StateKey k = toy_key(acc % 2 == 0 ? op.key : op.alt_key);
          const std::uint64_t amount = acc % 1000 + 1;
          auto same = std::find_if(out.deltas.begin(), out.deltas.end(), [&](const Delta& d) { return d.key == k; });
          if (same != out.deltas.end()) {
            same->amount += amount;
          } else {
            out.deltas.push_back({k, amount});
          }
          break;
        }
      }
    }
    out.receipt = "ok acc=" + std::to_string(acc);
    return out;
  }

 private:
  std::vector<ToyTxn> txns_;
  std::uint64_t counter_bound_;
  bool additive_;
};

/// How good a DeclaringVm's declarations are.
enum class Hint { kExact, kNone, kWrong, kEveryKey, kDuplicated };

inline const char* name(Hint h) {
  switch (h) {
    case Hint::kExact: return "exact";
    case Hint::kNone: return "none";
    case Hint::kWrong: return "wrong";
    case Hint::kEveryKey: return "every key";
    case Hint::kDuplicated: return "duplicated";
  }
  return "?";
}

/// The toy VM with declarations (Vm::declare_writes) of the chosen quality. Exact: every key an
/// op may write (both keys of a conditional write). Wrong: keys drawn at random, unrelated to
/// what the transaction does.
class DeclaringVm final : public Vm {
 public:
  DeclaringVm(std::vector<ToyTxn> txns, Hint hint, std::uint64_t keys, std::uint64_t seed)
      : toy_(txns), txns_(std::move(txns)), hint_(hint), keys_(keys), seed_(seed) {}

  TxnOutput execute(TxnIndex txn, StateReader& reader) const override { return toy_.execute(txn, reader); }
  Value apply_delta(const StateKey& key, const std::optional<Value>& base, DeltaSum total) const override {
    return toy_.apply_delta(key, base, total);
  }

  void declare_writes(TxnIndex txn, DeclaredWrites& out) const override {
    switch (hint_) {
      case Hint::kNone:
        return;
      case Hint::kEveryKey:
        for (std::uint64_t k = 0; k < keys_; ++k) out.push_back(toy_key(k));
        return;
      case Hint::kWrong: {
        std::mt19937_64 rng(seed_ * 31 + txn);
        for (int i = 0; i < 3; ++i) out.push_back(toy_key(rng() % keys_));
        return;
      }
      case Hint::kExact:
      case Hint::kDuplicated:
        for (const ToyOp& op : txns_[txn].ops) {
          if (op.kind == ToyOp::Kind::kWrite || op.kind == ToyOp::Kind::kDelete) out.push_back(toy_key(op.key));
          if (op.kind == ToyOp::Kind::kWriteIfEven || op.kind == ToyOp::Kind::kAdd) {
            out.push_back(toy_key(op.key));
            out.push_back(toy_key(op.alt_key));
          }
        }
        if (hint_ == Hint::kDuplicated && !out.empty()) out.push_back(out.front());
        return;
    }
  }

 private:
  ToyVm toy_;
  std::vector<ToyTxn> txns_;
  Hint hint_;
  std::uint64_t keys_;
  std::uint64_t seed_;
};

}  // namespace pel::testing
