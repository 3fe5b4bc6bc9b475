#include "engine/ledger/receipt.hpp"

namespace pel::ledger {

Bytes Receipt::encode() const {
  Writer w;
  w.u8(static_cast<std::uint8_t>(status));
  w.varint(gas_used);
  w.varint(fee);
  w.bytes(as_bytes(reason));
  if (work_digest.is_zero()) {
    w.u8(0);
  } else {
    w.u8(1);
    w.array(work_digest.bytes);
  }
  return w.take();
}

Result<Receipt> Receipt::decode(ByteView bytes) {
  Reader r(bytes);
  Receipt out;
  std::uint8_t status = 0;
  std::uint8_t has_digest = 0;
  ByteView reason;
  r.u8(status);
  r.varint(out.gas_used);
  r.varint(out.fee);
  r.bytes(reason, kMaxReasonBytes);
  r.u8(has_digest);
  if (has_digest == 1) r.array(out.work_digest.bytes);
  PEL_TRY(r.finish("receipt"));
  if (status > static_cast<std::uint8_t>(TxStatus::kDiscarded)) {
    return error(ErrorCode::kInvalidArgument, "receipt: unknown status " + std::to_string(status));
  }
  if (has_digest > 1 || (has_digest == 1 && out.work_digest.is_zero())) {
    return error(ErrorCode::kInvalidArgument, "receipt: non-canonical work digest flag");
  }
  out.status = static_cast<TxStatus>(status);
  out.reason.assign(reason.begin(), reason.end());
  return out;
}

Hash256 Receipt::hash() const { return sha256(encode()); }

}  // namespace pel::ledger
