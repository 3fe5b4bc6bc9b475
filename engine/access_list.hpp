// Block access lists: the keys each transaction of a block read and wrote in the execution that
// counts, recorded where the block was made and carried with it, so that whoever executes the
// block again knows every dependency before starting (ListedExecutor: no
// speculation, no validation) and proves the list right by executing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "crypto/result.hpp"
#include "engine/declarations.hpp"
#include "engine/vm.hpp"

namespace pel {

/// One block's accesses: entries 0..n-1 are its transactions, entry n is the VM's finish_block.
/// Each entry names the distinct keys it read, the distinct keys it wrote (deleted included),
/// and the distinct keys it only added to (its output's deltas: commutative adds, which wait
/// for nothing and make no later add wait), as ids into `keys`, which names each key once. A
/// key may be both read and added to; never both written and added to. A value, not
/// thread-safe to build; const members may be called concurrently.
struct AccessList {
  /// The three parts of an entry, in the order they are stored and encoded.
  enum class Part : std::uint8_t { kReads, kWrites, kAdds };
  static constexpr std::size_t kParts = 3;

  std::vector<StateKey> keys;
  /// Entry e's part p is ids[offsets[3e + p] .. offsets[3e + p + 1]).
  std::vector<std::uint32_t> ids;
  std::vector<std::uint32_t> offsets{0};

  std::size_t entries() const { return (offsets.size() - 1) / kParts; }
  std::span<const std::uint32_t> part(std::size_t entry, Part p) const {
    const std::size_t at = kParts * entry + static_cast<std::size_t>(p);
    return {ids.data() + offsets[at], ids.data() + offsets[at + 1]};
  }
  std::span<const std::uint32_t> reads(std::size_t entry) const { return part(entry, Part::kReads); }
  std::span<const std::uint32_t> writes(std::size_t entry) const { return part(entry, Part::kWrites); }
  std::span<const std::uint32_t> adds(std::size_t entry) const { return part(entry, Part::kAdds); }
  /// Where entry `entry`'s part `p` begins in `ids`.
  std::uint32_t begin(std::size_t entry, Part p) const { return offsets[kParts * entry + static_cast<std::size_t>(p)]; }

  /// The first difference between this list and `done` (what execution touched), as sets of
  /// keys per entry, or OK. Names the entry ("transaction 12" or "finish_block") and the key.
  Status check_matches(const AccessList& done) const;
  /// One entry of this list against entry `done_entry` of `done`, for the entry named `who`.
  Status check_entry(std::size_t entry, const AccessList& done, std::size_t done_entry, const std::string& who) const;
};

/// What to call entry `entry` of a block of `num_txns` transactions in an error.
std::string access_entry_name(std::size_t entry, std::size_t num_txns);
/// The error for one key where execution and list disagree: `who` `verb` ("read", "wrote") the
/// key and the list does not name it, or (listed_only) the list names it and execution did not.
Status access_mismatch(const std::string& who, const char* verb, const StateKey& key, bool listed_only);

/// A VM that records what another VM's executions touch. Run a block with any executor on the
/// recorder, then take() the list: per transaction, the keys its last execution read (the final
/// incarnation: an executor runs a transaction's executions one after another), the keys its
/// final output writes, and those it adds to. Thread-safety: like any Vm, execute() is called concurrently for different
/// transactions; take() after the executor returned.
class AccessRecorder final : public Vm {
 public:
  AccessRecorder(const Vm& inner, std::size_t num_txns);
  ~AccessRecorder() override;

  TxnOutput execute(TxnIndex txn, StateReader& reader) const override;
  void declare_writes(TxnIndex txn, DeclaredWrites& out) const override;
  void declare_adds(TxnIndex txn, DeclaredWrites& out) const override;
  Value apply_delta(const StateKey& key, const std::optional<Value>& base, DeltaSum total) const override;
  WriteSet finish_block(std::span<const TxnOutput> outputs, StateReader& state) const override;

  /// The list, given the block's final outputs (the executor's, with its own rules applied).
  AccessList take(std::span<const TxnOutput> outputs);

 private:
  struct Slots;
  const Vm& inner_;
  std::unique_ptr<Slots> slots_;
};

/// The most keys an entry may name that its transaction did not declare (its reads and writes
/// of undeclared keys counted apart): bounds what a list costs to decode by the block's
/// transactions, whatever its bytes say.
inline constexpr std::size_t kMaxLiteralRefsPerEntry = 64;

/// The list's encoding, compact because it refers to the keys `vm` declares (Vm::declare_writes,
/// then Vm::declare_adds):
/// a key a transaction declared costs a one-byte reference in that transaction's entry, other
/// keys are spelt out once per block. Canonical: one list has exactly one encoding.
///   u8 version (2) | varint literal count | literals |
///   per entry: varint reads, refs (varint each) | varint writes, refs | varint adds, refs
/// Literals are the keys some entry names without having declared them, ascending, each named
/// by some entry, front-coded: varint bytes shared with the previous literal (as many as there
/// are), varint length of the rest up to the key's zero tail, those bytes. Each part lists its
/// keys in ascending key order. A ref r < d (the entry's declared key count, 0 for
/// finish_block) names the entry's r-th declared key (its first position when declared twice),
/// and r >= d the (r-d)-th literal; a declared key is never spelt as a literal. Fails
/// (kInvalidArgument) when an entry names more than kMaxLiteralRefsPerEntry undeclared keys.
/// `declarations` are the block's (one entry per transaction, then finish_block's).
Result<Bytes> encode_access_list(const AccessList& list, const BlockDeclarations& declarations);
/// The same, asking `vm` for the declarations of its `num_txns` transactions.
Result<Bytes> encode_access_list(const AccessList& list, const Vm& vm, std::size_t num_txns);
/// Accepts only the canonical encoding (the bytes encode_access_list writes for the list): a
/// wrong version, counts beyond the bytes left, literals out of order, not front-coded as
/// written, or named by no entry, refs out of range or out of key order, a declared key spelt
/// as a literal or referred to by a later position, missing entries and trailing bytes are
/// errors (a key both written and added to by one entry is refused where the list is executed).
/// Memory is bounded by the block's transactions (kMaxLiteralRefsPerEntry literal keys each),
/// whatever the bytes claim.
Result<AccessList> decode_access_list(ByteView bytes, const BlockDeclarations& declarations);
/// The same, asking `vm` for the declarations of its `num_txns` transactions.
Result<AccessList> decode_access_list(ByteView bytes, const Vm& vm, std::size_t num_txns);

}  // namespace pel
