// The codec pieces behind ledger payloads and records: a writer into state values, a strict
// reader, crypto's Reader plus the checks the byte format alone cannot make (ids that fit 32
// bits, enumerations and basis points within range, element counts bounded before allocating),
// and the encode()/decode() pair both build on them.
// Not thread-safe: one reader or writer per encode/decode.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "crypto/address.hpp"
#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace pel::ledger {

/// Appends the canonical encoding (varints, raw addresses) straight into a state Value, which
/// keeps small records inline in std::string's buffer: no allocation per record written.
class ValueWriter {
 public:
  void u64(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void address(const Address& a) { out_.append(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size()); }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class StrictReader {
 public:
  explicit StrictReader(ByteView input) : r_(input) {}

  /// A canonical varint.
  void u64(std::uint64_t& v) {
    if (ok()) r_.varint(v);
  }
  /// A canonical varint that must fit 32 bits.
  void u32(std::uint32_t& v) {
    std::uint64_t x = 0;
    if (!ok() || !r_.varint(x)) return;
    if (x > 0xffffffffull) return invalid("id exceeds 32 bits");
    v = static_cast<std::uint32_t>(x);
  }
  /// A varint no larger than `max` (an enumeration, basis points).
  void bounded(std::uint32_t& v, std::uint32_t max, const char* what) {
    u32(v);
    if (ok() && v > max) invalid(what);
  }
  void u8(std::uint8_t& v) {
    if (ok()) r_.u8(v);
  }
  void address(Address& a) {
    if (ok()) r_.array(a.bytes);
  }
  /// An element count in [min, max] whose elements (each at least `item_bytes`) can still be
  /// present: checked before the caller allocates for them.
  bool count(std::uint64_t& n, std::uint64_t min, std::uint64_t max, std::size_t item_bytes) {
    u64(n);
    if (!ok()) return false;
    if (n < min || n > max) return invalid("element count out of range"), false;
    if (n * item_bytes > r_.remaining()) {
      ByteView none;
      r_.raw(r_.remaining() + 1, none);  // the elements are not there: a truncation
      return false;
    }
    return true;
  }
  void invalid(const char* why) {
    if (why_ == nullptr) why_ = why;
  }
  bool ok() const { return why_ == nullptr && !r_.failed(); }
  /// OK when every read and check passed and the input was consumed exactly.
  Status finish(const char* what) const {
    if (why_ != nullptr) return error(ErrorCode::kInvalidArgument, std::string(what) + ": " + why_);
    return r_.finish(what);
  }

 private:
  Reader r_;
  const char* why_ = nullptr;
};

/// encode()/decode() for a payload or record T that defines write(W&), read(StrictReader&) and
/// kName (what decode errors call it). W is what T encodes into: crypto's Writer for payloads
/// (encode() gives Bytes), ValueWriter for state records (encode() gives a state Value).
template <typename T, typename W>
struct Codec {
  auto encode() const {
    W w;
    static_cast<const T*>(this)->write(w);
    return w.take();
  }
  static Result<T> decode(ByteView bytes) {
    StrictReader r(bytes);
    T t;
    t.read(r);
    PEL_TRY(r.finish(T::kName));
    return t;
  }
};

}  // namespace pel::ledger
