#include "crypto/lattice_hash.hpp"

#include <string>

namespace pel {

namespace {

using Lanes = std::array<std::uint16_t, LatticeHash::kLanes>;

// Little-endian decode, written as a plain loop so it vectorises on any host byte order.
void decode(const std::uint8_t* in, Lanes& out) {
  for (std::size_t i = 0; i < LatticeHash::kLanes; ++i) {
    out[i] = static_cast<std::uint16_t>(in[2 * i] | (in[2 * i + 1] << 8));
  }
}

void element_lanes(ByteView element, Lanes& out) {
  std::array<std::uint8_t, LatticeHash::kBytes> xof;
  shake256(element, xof);
  decode(xof.data(), out);
}

// Lane loops: plain indexed loops over fixed-size arrays, which GCC vectorises at -O2/-O3.
void add_lanes(Lanes& acc, const Lanes& x) {
  for (std::size_t i = 0; i < LatticeHash::kLanes; ++i) {
    acc[i] = static_cast<std::uint16_t>(acc[i] + x[i]);
  }
}

void sub_lanes(Lanes& acc, const Lanes& x) {
  for (std::size_t i = 0; i < LatticeHash::kLanes; ++i) {
    acc[i] = static_cast<std::uint16_t>(acc[i] - x[i]);
  }
}

}  // namespace

LatticeHash LatticeHash::of(ByteView element) {
  LatticeHash h;
  element_lanes(element, h.lanes_);
  return h;
}

void LatticeHash::add(ByteView element) {
  Lanes x;
  element_lanes(element, x);
  add_lanes(lanes_, x);
}

void LatticeHash::remove(ByteView element) {
  Lanes x;
  element_lanes(element, x);
  sub_lanes(lanes_, x);
}

void LatticeHash::combine(const LatticeHash& other) { add_lanes(lanes_, other.lanes_); }

void LatticeHash::subtract(const LatticeHash& other) { sub_lanes(lanes_, other.lanes_); }

std::array<std::uint8_t, LatticeHash::kBytes> LatticeHash::to_bytes() const {
  std::array<std::uint8_t, kBytes> out;
  for (std::size_t i = 0; i < kLanes; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(lanes_[i]);
    out[2 * i + 1] = static_cast<std::uint8_t>(lanes_[i] >> 8);
  }
  return out;
}

Hash256 LatticeHash::digest() const {
  std::array<std::uint8_t, kBytes> b = to_bytes();
  return sha256(b);
}

Result<LatticeHash> LatticeHash::from_bytes(ByteView b) {
  if (b.size() != kBytes) {
    return error(ErrorCode::kInvalidArgument,
                 "lattice hash must be 2048 bytes, got " + std::to_string(b.size()));
  }
  LatticeHash h;
  decode(b.data(), h.lanes_);
  return h;
}

bool LatticeHash::is_empty() const {
  std::uint16_t acc = 0;
  for (std::size_t i = 0; i < kLanes; ++i) acc = static_cast<std::uint16_t>(acc | lanes_[i]);
  return acc == 0;
}

}  // namespace pel
