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
  std::optional<Value> value;      // the value; with deltas, the value they add to
  bool deltas_on_storage = false;  // with deltas: they add to the base state's value instead
  bool has_deltas = false;
  DeltaSum deltas = 0;
};
using Overlay = std::unordered_map<StateKey, OverlayValue, StateKeyHash>;

void apply_output(Overlay& overlay, const TxnOutput& out) {
  for (const Write& w : out.writes) overlay[w.key] = OverlayValue{w.value};
  for (const Delta& d : out.deltas) {
    auto [it, fresh] = overlay.try_emplace(d.key);
    OverlayValue& v = it->second;
    if (fresh) v.deltas_on_storage = true;
    v.deltas = v.has_deltas ? v.deltas + d.amount : d.amount;
    v.has_deltas = true;
  }
}

class OverlayReader final : public StateReader {
 public:
  OverlayReader(const Vm& vm, Overlay& overlay, const BaseState& base) : vm_(vm), overlay_(overlay), base_(base) {}
  std::optional<Value> read(const StateKey& key) override {
    auto it = overlay_.find(key);
    if (it == overlay_.end()) return base_.get(key);
    if (it->second.has_deltas) {
      Result<Value> applied = resolve(vm_, base_, key, it->second);
      if (!applied) {
        if (!failure_) failure_ = applied.status().message();
        throw DeltaReadFailed{};
      }
      it->second = OverlayValue{std::move(applied).value()};
    }
    return it->second.value;
  }
  /// The first read whose deltas could not be applied, if any: the block cannot be made.
  const std::optional<std::string>& failure() const { return failure_; }

 private:
  /// The value `v` stands for, its deltas applied.
  static Result<Value> resolve(const Vm& vm, const BaseState& base, const StateKey& key, const OverlayValue& v) {
    return apply_delta(vm, key, v.deltas_on_storage ? base.get(key) : v.value, v.deltas);
  }

  const Vm& vm_;
  Overlay& overlay_;
  const BaseState& base_;
  std::optional<std::string> failure_;
};

}  // namespace

BlockResult execute_sequential(const Vm& vm, std::size_t num_txns, const BaseState& base) {
  return continue_sequential(vm, num_txns, base, {}, {});
}

BlockResult continue_sequential(const Vm& vm, std::size_t num_txns, const BaseState& base,
                                std::vector<TxnOutput> done, const FinalWrites& done_state) {
  auto start = std::chrono::steady_clock::now();
  BlockResult result;
  const std::size_t first = done.size();
  result.outputs = std::move(done);
  result.outputs.reserve(num_txns);
  Overlay overlay;
  overlay.reserve(num_txns * 2);
  for (const Write& w : done_state.writes) overlay.emplace(w.key, OverlayValue{w.value});
  for (const PendingDeltas& d : done_state.deltas) overlay.emplace(d.key, OverlayValue{d.base, d.on_storage, true, d.total});
  OverlayReader reader(vm, overlay, base);
  for (std::size_t i = first; i < num_txns; ++i) {
    TxnOutput out = call_vm(vm, static_cast<TxnIndex>(i), reader);
    apply_output(overlay, out);
    result.outputs.push_back(std::move(out));
  }
  result.stats.execute_ns = elapsed_ns(start);

  auto finalize_start = std::chrono::steady_clock::now();
  FinalWrites state;
  state.writes.reserve(overlay.size());
  for (auto& [key, v] : overlay) {
    if (v.has_deltas) {
      state.deltas.push_back({key, v.deltas_on_storage, std::move(v.value), v.deltas});
    } else {
      state.writes.push_back({key, std::move(v.value)});
    }
  }
  std::sort(state.writes.begin(), state.writes.end(), [](const Write& a, const Write& b) { return a.key < b.key; });
  std::sort(state.deltas.begin(), state.deltas.end(),
            [](const PendingDeltas& a, const PendingDeltas& b) { return a.key < b.key; });
  // A read that met deltas it could not apply came first; else the lowest key's at the end.
  Result<WriteSet> writes = apply_final_deltas(vm, base, std::move(state), false);
  if (reader.failure()) {
    result.finish_error = *reader.failure();
  } else if (!writes) {
    result.finish_error = writes.status().message();
  } else {
    result.writes = std::move(writes).value();
  }
  finish_block(vm, base, result);
  result.stats.finalize_ns = elapsed_ns(finalize_start);

  result.stats.transactions = num_txns;
  result.stats.executions = num_txns - first;
  result.stats.sequential = first == 0;
  return result;
}

}  // namespace pel
