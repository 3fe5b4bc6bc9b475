#include "crypto/address.hpp"

#include <algorithm>

#include "crypto/hash.hpp"

namespace pel {

std::string Address::hex() const { return to_hex(bytes); }

Result<Address> Address::from_hex(std::string_view hex) {
  std::string_view digits = hex;
  if (digits.starts_with("0x") || digits.starts_with("0X")) digits.remove_prefix(2);
  if (digits.size() != 40) {
    return error(ErrorCode::kInvalidArgument,
                 "address must be 40 hex digits, got " + std::to_string(digits.size()));
  }
  Result<Bytes> raw = pel::from_hex(digits);
  if (!raw) return raw.status();
  Address a;
  std::copy(raw->begin(), raw->end(), a.bytes.begin());
  return a;
}

Address address_of(const PublicKey& key) {
  Hash256 h = sha256(key.bytes);
  Address a;
  std::copy(h.bytes.end() - static_cast<std::ptrdiff_t>(a.bytes.size()), h.bytes.end(),
            a.bytes.begin());
  return a;
}

}  // namespace pel
