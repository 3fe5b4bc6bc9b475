// libFuzzer target for the ledger's wire decoders. The first byte picks the decoder (a
// transaction, a receipt, or the payload of one kind); the rest is its input. Property: no
// crash or sanitizer report on any input, and whatever decodes re-encodes to the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "engine/ledger/receipt.hpp"
#include "engine/ledger/transaction.hpp"

namespace {

void require(bool ok) {
  if (!ok) std::abort();  // libFuzzer reports the input that got here
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pel;
  using namespace pel::ledger;
  if (size == 0) return 0;
  const ByteView input(data + 1, size - 1);
  const std::uint8_t selector = data[0] % (2 + kMaxTxKind);
  if (selector == 0) {
    if (Result<Transaction> t = Transaction::decode(input)) {
      const Bytes again = t->encode();
      require(again.size() == input.size() && std::equal(again.begin(), again.end(), input.begin()));
      (void)decode_payload(t->kind, t->payload);  // a transaction carries any payload: no crash
    }
  } else if (selector == 1) {
    if (Result<Receipt> r = Receipt::decode(input)) {
      const Bytes again = r->encode();
      require(again.size() == input.size() && std::equal(again.begin(), again.end(), input.begin()));
    }
  } else {
    const auto kind = static_cast<TxKind>(selector - 1);
    if (Result<Payload> p = decode_payload(kind, input)) {
      const Bytes again = make_transaction(*p).payload;
      require(again.size() == input.size() && std::equal(again.begin(), again.end(), input.begin()));
    }
  }
  return 0;
}
