#include "engine/declarations.hpp"

#include <algorithm>

#include "crypto/parallel_for.hpp"

namespace pel {

BlockDeclarations BlockDeclarations::build(std::size_t num_txns, const Declare& declare) {
  // Chunks of transactions declare into buffers of their own, in parallel; the buffers are then
  // laid end to end.
  constexpr std::size_t kChunk = 256;
  const std::size_t chunks = (num_txns + kChunk - 1) / kChunk;
  struct ChunkKeys {
    std::vector<StateKey> keys;
    std::vector<std::size_t> ends;    // per transaction: where its keys end in `keys`
    std::vector<std::size_t> splits;  // per transaction: where its adds begin
  };
  std::vector<ChunkKeys> parts(chunks);
  parallel_ranges(chunks, 1, [&](std::size_t first, std::size_t last) {
    DeclaredWrites writes, adds;
    for (std::size_t c = first; c < last; ++c) {
      ChunkKeys& part = parts[c];
      for (std::size_t txn = c * kChunk; txn < std::min(num_txns, (c + 1) * kChunk); ++txn) {
        writes.clear();
        adds.clear();
        declare(static_cast<TxnIndex>(txn), writes, adds);
        part.keys.insert(part.keys.end(), writes.begin(), writes.end());
        part.splits.push_back(part.keys.size());
        part.keys.insert(part.keys.end(), adds.begin(), adds.end());
        part.ends.push_back(part.keys.size());
      }
    }
  });
  BlockDeclarations out;
  out.begin_.reserve(num_txns + 1);
  out.split_.reserve(num_txns);
  std::size_t total = 0;
  for (const ChunkKeys& part : parts) {
    for (std::size_t i = 0; i < part.ends.size(); ++i) {
      out.split_.push_back(total + part.splits[i]);
      out.begin_.push_back(total + part.ends[i]);
    }
    total += part.keys.size();
  }
  out.keys_.reserve(total);
  for (ChunkKeys& part : parts) out.keys_.insert(out.keys_.end(), part.keys.begin(), part.keys.end());
  return out;
}

BlockDeclarations BlockDeclarations::of(const Vm& vm, std::size_t num_txns) {
  return build(num_txns, [&vm](TxnIndex txn, DeclaredWrites& writes, DeclaredWrites& adds) {
    vm.declare_writes(txn, writes);
    vm.declare_adds(txn, adds);
  });
}

}  // namespace pel
