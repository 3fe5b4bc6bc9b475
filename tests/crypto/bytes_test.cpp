#include "crypto/bytes.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace pel {
namespace {

TEST(Hex, RoundTrip) {
  Bytes b = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  EXPECT_EQ(to_hex(b), "00017f80abff");
  Result<Bytes> back = from_hex("00017f80abff");
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(*back, b);
  EXPECT_EQ(*from_hex("0xABff"), (Bytes{0xab, 0xff}));
  EXPECT_TRUE(from_hex("")->empty());
}

TEST(Hex, Errors) {
  EXPECT_EQ(from_hex("abc").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(from_hex("zz").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(from_hex("0g").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(from_hex("12 4").is_ok());
}

TEST(ReaderWriter, RoundTrip) {
  Writer w;
  w.u8(0xfe);
  w.u32(0xdeadbeef);
  w.u64(0x0123456789abcdefULL);
  w.varint(0);
  w.varint(127);
  w.varint(128);
  w.varint(std::numeric_limits<std::uint64_t>::max());
  Bytes payload = {1, 2, 3};
  w.bytes(payload);
  std::array<std::uint8_t, 4> arr = {9, 8, 7, 6};
  w.array(arr);
  Bytes data = w.take();

  Reader r(data);
  std::uint8_t a = 0;
  std::uint32_t b = 0;
  std::uint64_t c = 0, v0 = 1, v1 = 0, v2 = 0, v3 = 0;
  ByteView p;
  std::array<std::uint8_t, 4> arr2{};
  ASSERT_TRUE(r.u8(a) && r.u32(b) && r.u64(c) && r.varint(v0) && r.varint(v1) && r.varint(v2) &&
              r.varint(v3) && r.bytes(p, 16) && r.array(arr2));
  EXPECT_TRUE(r.finish("record").is_ok());
  EXPECT_EQ(a, 0xfe);
  EXPECT_EQ(b, 0xdeadbeefu);
  EXPECT_EQ(c, 0x0123456789abcdefULL);
  EXPECT_EQ(v0, 0u);
  EXPECT_EQ(v1, 127u);
  EXPECT_EQ(v2, 128u);
  EXPECT_EQ(v3, std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(Bytes(p.begin(), p.end()), payload);
  EXPECT_EQ(arr2, arr);
}

TEST(ReaderWriter, LittleEndianLayout) {
  Writer w;
  w.u32(0x01020304);
  w.varint(300);
  EXPECT_EQ(w.data(), (Bytes{0x04, 0x03, 0x02, 0x01, 0xac, 0x02}));
}

TEST(Reader, Truncation) {
  Bytes data = {1, 2, 3};
  Reader r(data);
  std::uint32_t v = 0;
  EXPECT_FALSE(r.u32(v));
  EXPECT_TRUE(r.failed());
  Status s = r.finish("header");
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("header"), std::string::npos);
  // A failed reader stays failed even for reads that would fit.
  std::uint8_t b = 0;
  EXPECT_FALSE(r.u8(b));
}

TEST(Reader, TrailingBytes) {
  Bytes data = {1, 2};
  Reader r(data);
  std::uint8_t b = 0;
  ASSERT_TRUE(r.u8(b));
  Status s = r.finish("x");
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("trailing"), std::string::npos);
}

TEST(Reader, LengthPrefixOverMaxOrInput) {
  Writer w;
  w.bytes(Bytes(10, 0xaa));
  Bytes data = w.take();
  {
    Reader r(data);
    ByteView v;
    EXPECT_FALSE(r.bytes(v, 9));  // over the caller's maximum
  }
  {
    Bytes cut(data.begin(), data.end() - 1);
    Reader r(cut);
    ByteView v;
    EXPECT_FALSE(r.bytes(v, 100));  // prefix claims more than the input holds
  }
  {
    Bytes huge = {0xff, 0xff, 0xff, 0xff, 0x0f};  // ~4 GiB claimed
    Reader r(huge);
    ByteView v;
    EXPECT_FALSE(r.bytes(v, std::numeric_limits<std::size_t>::max()));
  }
}

TEST(Reader, NonCanonicalVarint) {
  std::uint64_t v = 0;
  Bytes padded = {0x80, 0x00};  // zero with a redundant group
  EXPECT_FALSE(Reader(padded).varint(v));
  Bytes padded1 = {0x81, 0x80, 0x00};
  EXPECT_FALSE(Reader(padded1).varint(v));
  Bytes overflow = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
  EXPECT_FALSE(Reader(overflow).varint(v));
  Bytes too_long = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  EXPECT_FALSE(Reader(too_long).varint(v));
  Bytes truncated = {0x80};
  EXPECT_FALSE(Reader(truncated).varint(v));
  Bytes zero = {0x00};
  Reader ok(zero);
  EXPECT_TRUE(ok.varint(v));
  EXPECT_EQ(v, 0u);
}

}  // namespace
}  // namespace pel
