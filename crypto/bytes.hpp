// Byte strings, hex, and the canonical little-endian encoding every pel record uses.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/result.hpp"

namespace pel {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string to_hex(ByteView bytes);
/// Parses lowercase or uppercase hex of even length; an optional "0x" prefix is accepted.
Result<Bytes> from_hex(std::string_view hex);

/// Appends canonical encodings to a byte buffer: little-endian fixed-width integers, LEB128
/// varints, and length-prefixed (varint) byte strings.
class Writer {
 public:
  Writer() = default;
  explicit Writer(Bytes initial) : out_(std::move(initial)) {}

  void u8(std::uint8_t v) { out_.push_back(v); }
  void u32(std::uint32_t v) { fixed(v, 4); }
  void u64(std::uint64_t v) { fixed(v, 8); }
  void varint(std::uint64_t v);
  void raw(ByteView bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
  void bytes(ByteView bytes) {
    varint(bytes.size());
    raw(bytes);
  }
  template <std::size_t N>
  void array(const std::array<std::uint8_t, N>& a) { raw(a); }

  const Bytes& data() const { return out_; }
  Bytes take() { return std::move(out_); }

 private:
  void fixed(std::uint64_t v, int width) {
    for (int i = 0; i < width; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  Bytes out_;
};

/// Reads canonical encodings strictly: every read is bounds-checked, and a failed read leaves
/// the reader failed with a message saying what was being read.
class Reader {
 public:
  explicit Reader(ByteView input) : in_(input) {}

  bool u8(std::uint8_t& v);
  bool u32(std::uint32_t& v);
  bool u64(std::uint64_t& v);
  /// Canonical LEB128: at most 10 bytes, no redundant trailing zero groups.
  bool varint(std::uint64_t& v);
  bool raw(std::size_t n, ByteView& v);
  /// A varint length then that many bytes; fails when the length exceeds `max_len`.
  bool bytes(ByteView& v, std::size_t max_len);
  template <std::size_t N>
  bool array(std::array<std::uint8_t, N>& a) {
    ByteView v;
    if (!raw(N, v)) return false;
    std::copy(v.begin(), v.end(), a.begin());
    return true;
  }

  std::size_t remaining() const { return in_.size() - pos_; }
  bool at_end() const { return pos_ == in_.size(); }
  bool failed() const { return failed_; }
  /// OK when every read succeeded and the input was consumed exactly.
  Status finish(std::string_view what) const;

 private:
  bool fail(const char* why);
  ByteView in_;
  std::size_t pos_ = 0;
  bool failed_ = false;
  const char* why_ = "";
};

}  // namespace pel
