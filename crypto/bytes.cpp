#include "crypto/bytes.hpp"

#include <algorithm>

namespace pel {

std::string to_hex(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<Bytes> from_hex(std::string_view hex) {
  if (hex.starts_with("0x") || hex.starts_with("0X")) hex.remove_prefix(2);
  if (hex.size() % 2 != 0) return error(ErrorCode::kInvalidArgument, "hex string has odd length");
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return error(ErrorCode::kInvalidArgument, "not a hex digit at offset " + std::to_string(2 * i));
    }
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

void Writer::varint(std::uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<std::uint8_t>(v));
}

bool Reader::fail(const char* why) {
  if (!failed_) why_ = why;
  failed_ = true;
  return false;
}

bool Reader::u8(std::uint8_t& v) {
  if (failed_ || remaining() < 1) return fail("truncated u8");
  v = in_[pos_++];
  return true;
}

bool Reader::u32(std::uint32_t& v) {
  if (failed_ || remaining() < 4) return fail("truncated u32");
  v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(in_[pos_ + i]) << (8 * i);
  pos_ += 4;
  return true;
}

bool Reader::u64(std::uint64_t& v) {
  if (failed_ || remaining() < 8) return fail("truncated u64");
  v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(in_[pos_ + i]) << (8 * i);
  pos_ += 8;
  return true;
}

bool Reader::varint(std::uint64_t& v) {
  if (failed_) return false;
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (remaining() < 1) return fail("truncated varint");
    std::uint8_t b = in_[pos_++];
    if (shift == 63 && b > 1) return fail("varint overflows 64 bits");
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      if (b == 0 && shift != 0) return fail("non-canonical varint");
      return true;
    }
  }
  return fail("varint longer than 10 bytes");
}

bool Reader::raw(std::size_t n, ByteView& v) {
  if (failed_ || remaining() < n) return fail("truncated bytes");
  v = in_.subspan(pos_, n);
  pos_ += n;
  return true;
}

bool Reader::bytes(ByteView& v, std::size_t max_len) {
  std::uint64_t len = 0;
  if (!varint(len)) return false;
  if (len > max_len) return fail("length prefix exceeds the allowed maximum");
  return raw(static_cast<std::size_t>(len), v);
}

Status Reader::finish(std::string_view what) const {
  if (failed_) return error(ErrorCode::kInvalidArgument, std::string(what) + ": " + why_);
  if (!at_end()) {
    return error(ErrorCode::kInvalidArgument,
                 std::string(what) + ": " + std::to_string(remaining()) + " trailing bytes");
  }
  return Status::ok();
}

}  // namespace pel
