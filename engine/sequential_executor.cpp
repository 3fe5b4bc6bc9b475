#include "engine/sequential_executor.hpp"

#include <algorithm>
#include <unordered_map>

#include "engine/executor_common.hpp"

namespace pel {
namespace {

// The block's state so far above the base state: per key written, its value, or the deltas
// added since its last value, kept unapplied until a read or the end of the block (see
// Vm::apply_delta: every executor applies them at the same points).
struct OverlayValue {
  OverlayValue() = default;
  explicit OverlayValue(std::optional<Value> v) : value(std::move(v)) {}
  OverlayValue(std::optional<Value> base, bool on_storage, DeltaSum sum)
      : value(std::move(base)), has_deltas(true), deltas_on_storage(on_storage) {
    set_deltas(sum);
  }

  DeltaSum deltas() const { return static_cast<DeltaSum>(deltas_high) << 64 | deltas_low; }
  void set_deltas(DeltaSum sum) {
    deltas_low = static_cast<std::uint64_t>(sum);
    deltas_high = static_cast<std::uint32_t>(sum >> 64);  // a block's sum fits 96 bits (DeltaSum)
  }

  std::optional<Value> value;  // the value; with deltas, the value they add to
  // The sum in two words, not a DeltaSum: its 16-byte alignment made every overlay node, most
  // of which never see a delta, a size class larger (measured: 40% more cache misses on p2p).
  std::uint64_t deltas_low = 0;
  std::uint32_t deltas_high = 0;
  bool has_deltas = false;
  bool deltas_on_storage = false;  // with deltas: they add to the base state's value instead
};
using Overlay = std::unordered_map<StateKey, OverlayValue, StateKeyHash>;

void apply_output(Overlay& overlay, const TxnOutput& out) {
  for (const Write& w : out.writes) overlay[w.key] = OverlayValue{w.value};
  for (const Delta& d : out.deltas) {
    auto [it, fresh] = overlay.try_emplace(d.key);
    OverlayValue& v = it->second;
    if (fresh) v.deltas_on_storage = true;
    v.set_deltas(v.has_deltas ? v.deltas() + d.amount : d.amount);
    v.has_deltas = true;
  }
}

// The overlay as the block's final state: every key's last value, sorted, and the deltas pending
// on the keys that have some.
FinalWrites collect(Overlay& overlay) {
  FinalWrites state;
  state.writes.reserve(overlay.size());
  std::vector<PendingDeltas> pending;
  for (auto& [key, v] : overlay) {
    if (v.has_deltas) {
      pending.push_back({key, v.deltas_on_storage, std::move(v.value), v.deltas()});
      state.writes.push_back({key, std::nullopt});
    } else {
      state.writes.push_back({key, std::move(v.value)});
    }
  }
  auto by_key = [](const auto& a, const auto& b) { return a.key < b.key; };
  std::sort(state.writes.begin(), state.writes.end(), by_key);
  std::sort(pending.begin(), pending.end(), by_key);
  state.deltas.reserve(pending.size());
  std::size_t at = 0;
  for (PendingDeltas& d : pending) {
    while (state.writes[at].key != d.key) ++at;
    state.deltas.push_back({at, std::move(d)});
  }
  return state;
}

class OverlayReader final : public StateReader {
 public:
  OverlayReader(const Vm& vm, Overlay& overlay, const BaseState& base) : vm_(vm), overlay_(overlay), base_(base) {}
  std::optional<Value> read(const StateKey& key) override {
    auto it = overlay_.find(key);
    if (it == overlay_.end()) return base_.get(key);
    if (it->second.has_deltas) {
      // Applied to the value the deltas add to and returned, not stored: the sum keeps running
      // from the key's last written value, as in the multi-version memory and the listed
      // executor, so every executor applies the same sums to the same values (Vm::apply_delta).
      const OverlayValue& v = it->second;
      Result<Value> applied = apply_delta(vm_, key, v.deltas_on_storage ? base_.get(key) : v.value, v.deltas());
      if (!applied) {
        if (!failure_) failure_ = applied.status().message();
        throw DeltaReadFailed{};
      }
      return std::move(applied).value();
    }
    return it->second.value;
  }
  /// The first read whose deltas could not be applied, if any: the block cannot be made.
  const std::optional<std::string>& failure() const { return failure_; }

 private:
  const Vm& vm_;
  Overlay& overlay_;
  const BaseState& base_;
  std::optional<std::string> failure_;
};

}  // namespace

struct SequentialRun::State {
  State(const Vm& the_vm, std::size_t block_size, const BaseState& base_state)
      : vm(the_vm), base(base_state), num_txns(block_size), reader(the_vm, overlay, base_state) {}
  const Vm& vm;
  const BaseState& base;
  const std::size_t num_txns;
  std::size_t first = 0;  // the first transaction this run executes
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  BlockResult result;
  Overlay overlay;
  OverlayReader reader;
};

SequentialRun::SequentialRun(const Vm& vm, std::size_t num_txns, const BaseState& base, std::vector<TxnOutput> done,
                             const FinalWrites& done_state)
    : state_(std::make_unique<State>(vm, num_txns, base)) {
  State& s = *state_;
  s.first = done.size();
  s.result.outputs = std::move(done);
  s.result.outputs.reserve(num_txns);
  s.overlay.reserve(num_txns * 2);
  for (const FinalWrites::Pending& p : done_state.deltas) {
    s.overlay.emplace(p.deltas.key, OverlayValue{p.deltas.base, p.deltas.on_storage, p.deltas.total});
  }
  for (const Write& w : done_state.writes) s.overlay.try_emplace(w.key, OverlayValue{w.value});  // pending ones stay
}

SequentialRun::~SequentialRun() = default;

void SequentialRun::run_until(std::size_t end) {
  State& s = *state_;
  for (std::size_t i = s.result.outputs.size(); i < std::min(end, s.num_txns); ++i) {
    TxnOutput out = call_vm(s.vm, static_cast<TxnIndex>(i), s.reader);
    apply_output(s.overlay, out);
    s.result.outputs.push_back(std::move(out));
  }
}

std::size_t SequentialRun::next() const { return state_->result.outputs.size(); }

bool SequentialRun::failed() const { return state_->reader.failure().has_value(); }

std::vector<TxnOutput> SequentialRun::take_outputs() { return std::move(state_->result.outputs); }

BlockResult SequentialRun::finish() {
  run_until(state_->num_txns);
  State& s = *state_;
  BlockResult& result = s.result;
  const Vm& vm = s.vm;
  const BaseState& base = s.base;
  result.stats.execute_ns = elapsed_ns(s.start);

  auto finalize_start = std::chrono::steady_clock::now();
  end_block(vm, base, s.reader.failure(), collect(s.overlay), nullptr, result);
  result.stats.finalize_ns = elapsed_ns(finalize_start);

  result.stats.transactions = s.num_txns;
  result.stats.executions = s.num_txns - s.first;
  return std::move(result);
}

BlockResult execute_sequential(const Vm& vm, std::size_t num_txns, const BaseState& base) {
  return SequentialRun(vm, num_txns, base).finish();
}

BlockResult continue_sequential(const Vm& vm, std::size_t num_txns, const BaseState& base,
                                std::vector<TxnOutput> done, const FinalWrites& done_state) {
  return SequentialRun(vm, num_txns, base, std::move(done), done_state).finish();
}

}  // namespace pel
