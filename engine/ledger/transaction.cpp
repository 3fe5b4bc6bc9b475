#include "engine/ledger/transaction.hpp"

#include <stdexcept>

namespace pel::ledger {
namespace {

void write_address(Writer& w, const Address& a) { w.array(a.bytes); }

}  // namespace

std::string_view kind_name(TxKind kind) {
  switch (kind) {
#define PEL_TX_KIND_NAME(enumerator, code, payload_type, name, base_gas) \
  case TxKind::enumerator:                                              \
    return name;
    PEL_TX_KINDS(PEL_TX_KIND_NAME)
#undef PEL_TX_KIND_NAME
  }
  return "unknown";
}

Bytes Transaction::signing_bytes() const {
  Writer w;
  w.array(sender.bytes);
  w.u64(nonce);
  w.u64(gas_limit);
  w.u64(max_fee_per_gas);
  w.u32(chain_id);
  w.u8(static_cast<std::uint8_t>(kind));
  w.bytes(payload);
  return w.take();
}

Bytes Transaction::encode() const {
  Writer w(signing_bytes());
  w.array(signature.bytes);
  return w.take();
}

Result<Transaction> Transaction::decode(ByteView bytes) {
  Reader r(bytes);
  Transaction tx;
  std::uint8_t kind = 0;
  ByteView payload;
  r.array(tx.sender.bytes);
  r.u64(tx.nonce);
  r.u64(tx.gas_limit);
  r.u64(tx.max_fee_per_gas);
  r.u32(tx.chain_id);
  r.u8(kind);
  r.bytes(payload, kMaxPayloadBytes);
  r.array(tx.signature.bytes);
  PEL_TRY(r.finish("transaction"));
  if (kind == 0 || kind > kMaxTxKind) {
    return error(ErrorCode::kInvalidArgument, "transaction: unknown kind " + std::to_string(kind));
  }
  tx.kind = static_cast<TxKind>(kind);
  tx.payload.assign(payload.begin(), payload.end());
  return tx;
}

Hash256 Transaction::hash() const { return sha256(encode()); }

void Transaction::sign(const KeyPair& key) {
  sender = key.public_key();
  Result<Signature> sig = key.sign(signing_bytes());
  // Signing only fails when OpenSSL runs out of memory: a bug-class failure, not bad input.
  if (!sig) throw std::runtime_error("signing failed: " + sig.status().to_string());
  signature = *sig;
}

std::vector<std::uint8_t> verify_signatures(std::span<const Transaction> txns, int threads) {
  std::vector<Bytes> messages(txns.size());
  std::vector<VerifyItem> items(txns.size());
  for (std::size_t i = 0; i < txns.size(); ++i) {
    messages[i] = txns[i].signing_bytes();
    items[i] = {&txns[i].sender, messages[i], &txns[i].signature};
  }
  return verify_batch(items, threads);
}

// ---- payloads ---------------------------------------------------------------------------------

void TransferPayload::write(Writer& w) const {
  write_address(w, to);
  w.varint(amount);
}
void TransferPayload::read(StrictReader& r) {
  r.address(to);
  r.u64(amount);
}

void TokenMintPayload::write(Writer& w) const {
  w.varint(token);
  write_address(w, to);
  w.varint(amount);
}
void TokenMintPayload::read(StrictReader& r) {
  r.u32(token);
  r.address(to);
  r.u64(amount);
}

void TokenTransferPayload::write(Writer& w) const {
  w.varint(token);
  write_address(w, to);
  w.varint(amount);
}
void TokenTransferPayload::read(StrictReader& r) {
  r.u32(token);
  r.address(to);
  r.u64(amount);
}

void SwapPayload::write(Writer& w) const {
  w.varint(pool);
  w.varint(static_cast<std::uint8_t>(direction));
  w.varint(amount_in);
  w.varint(min_out);
}
void SwapPayload::read(StrictReader& r) {
  r.u32(pool);
  std::uint32_t d = 0;
  r.bounded(d, 1, "unknown swap direction");
  direction = static_cast<SwapDirection>(d);
  r.u64(amount_in);
  r.u64(min_out);
}

void AddLiquidityPayload::write(Writer& w) const {
  w.varint(pool);
  w.varint(amount_native);
  w.varint(amount_token);
  w.varint(min_shares);
}
void AddLiquidityPayload::read(StrictReader& r) {
  r.u32(pool);
  r.u64(amount_native);
  r.u64(amount_token);
  r.u64(min_shares);
}

void RemoveLiquidityPayload::write(Writer& w) const {
  w.varint(pool);
  w.varint(shares);
  w.varint(min_native);
  w.varint(min_token);
}
void RemoveLiquidityPayload::read(StrictReader& r) {
  r.u32(pool);
  r.u64(shares);
  r.u64(min_native);
  r.u64(min_token);
}

void NftMintPayload::write(Writer& w) const { w.varint(collection); }
void NftMintPayload::read(StrictReader& r) { r.u32(collection); }

void NftTransferPayload::write(Writer& w) const {
  w.varint(collection);
  w.varint(id);
  write_address(w, to);
  w.varint(price);
}
void NftTransferPayload::read(StrictReader& r) {
  r.u32(collection);
  r.u64(id);
  r.address(to);
  r.u64(price);
}

void StakePayload::write(Writer& w) const {
  w.varint(validator);
  w.varint(amount);
}
void StakePayload::read(StrictReader& r) {
  r.u32(validator);
  r.u64(amount);
}

void UnstakePayload::write(Writer& w) const {
  w.varint(validator);
  w.varint(amount);
}
void UnstakePayload::read(StrictReader& r) {
  r.u32(validator);
  r.u64(amount);
}

void ClaimRewardsPayload::write(Writer& w) const { w.varint(validator); }
void ClaimRewardsPayload::read(StrictReader& r) { r.u32(validator); }

void VotePayload::write(Writer& w) const {
  w.varint(proposal);
  w.varint(choice);
  w.varint(weight);
}
void VotePayload::read(StrictReader& r) {
  r.u32(proposal);
  r.u32(choice);
  r.u64(weight);
}

void AirdropPayload::write(Writer& w) const {
  w.varint(token);
  w.varint(amount);
  w.varint(recipients.size());
  for (const Address& a : recipients) write_address(w, a);
}
void AirdropPayload::read(StrictReader& r) {
  r.u32(token);
  r.u64(amount);
  std::uint64_t n = 0;
  if (!r.count(n, 1, kMaxAirdropRecipients, sizeof(Address))) return;
  recipients.resize(n);
  for (Address& a : recipients) r.address(a);
}

namespace {
template <typename P>
Result<Payload> decode_as(ByteView bytes) {
  Result<P> p = P::decode(bytes);
  if (!p) return p.status();
  return Payload(std::move(p).value());
}
}  // namespace

Result<Payload> decode_payload(TxKind kind, ByteView bytes) {
  switch (kind) {
#define PEL_TX_KIND_DECODE(enumerator, code, payload_type, name, base_gas) \
  case TxKind::enumerator:                                                \
    return decode_as<payload_type>(bytes);
    PEL_TX_KINDS(PEL_TX_KIND_DECODE)
#undef PEL_TX_KIND_DECODE
  }
  return error(ErrorCode::kInvalidArgument, "unknown transaction kind " +
                                                std::to_string(static_cast<int>(kind)));
}

Transaction make_transaction(const Payload& payload) {
  Transaction tx;
  std::visit(
      [&](const auto& p) {
        tx.kind = kind_of(p);
        tx.payload = p.encode();
      },
      payload);
  return tx;
}

}  // namespace pel::ledger
