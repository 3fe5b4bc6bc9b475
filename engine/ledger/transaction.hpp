// Ledger transactions: the signed envelope, the payload of each kind, and the parallel
// signature-checking stage that runs before execution.
// Thread-safety: plain values; every function here is safe from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "crypto/address.hpp"
#include "crypto/bytes.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "crypto/result.hpp"
#include "engine/ledger/codec.hpp"

namespace pel::ledger {

/// Every transaction kind, declared once: X(enumerator, code, payload type, kind_name(), base gas).
/// The code is the kind's byte in a signed transaction: codes run 1, 2, ... in table order, and
/// a new kind is appended. Base gas is roughly what the kind's logic costs beyond the reads,
/// writes and payload bytes gas.hpp charges for.
#define PEL_TX_KINDS(X)                                                     \
  X(kTransfer, 1, TransferPayload, "transfer", 2000)                        \
  X(kTokenMint, 2, TokenMintPayload, "token_mint", 3000)                    \
  X(kTokenTransfer, 3, TokenTransferPayload, "token_transfer", 3000)        \
  X(kSwap, 4, SwapPayload, "swap", 5000)                                    \
  X(kAddLiquidity, 5, AddLiquidityPayload, "add_liquidity", 6000)           \
  X(kRemoveLiquidity, 6, RemoveLiquidityPayload, "remove_liquidity", 6000)  \
  X(kNftMint, 7, NftMintPayload, "nft_mint", 4000)                          \
  X(kNftTransfer, 8, NftTransferPayload, "nft_transfer", 4000)              \
  X(kStake, 9, StakePayload, "stake", 4000)                                 \
  X(kUnstake, 10, UnstakePayload, "unstake", 4000)                          \
  X(kClaimRewards, 11, ClaimRewardsPayload, "claim_rewards", 3000)          \
  X(kVote, 12, VotePayload, "vote", 3000)                                   \
  X(kAirdrop, 13, AirdropPayload, "airdrop", 3000)

enum class TxKind : std::uint8_t {
#define PEL_TX_KIND_ENUMERATOR(enumerator, code, payload_type, name, base_gas) enumerator = code,
  PEL_TX_KINDS(PEL_TX_KIND_ENUMERATOR)
#undef PEL_TX_KIND_ENUMERATOR
};

/// The number of kinds, which is also the highest code: Transaction::decode accepts exactly
/// 1..kMaxTxKind.
#define PEL_TX_KIND_ONE(enumerator, code, payload_type, name, base_gas) +1
inline constexpr std::uint8_t kMaxTxKind = 0 PEL_TX_KINDS(PEL_TX_KIND_ONE);
#undef PEL_TX_KIND_ONE

// Holds the table to its contract, on which kMaxTxKind's range check relies.
#define PEL_TX_KIND_IN_SEQUENCE(enumerator, code, payload_type, name, base_gas) && code == ++expected
static_assert(
    [] {
      int expected = 0;
      return true PEL_TX_KINDS(PEL_TX_KIND_IN_SEQUENCE);
    }(),
    "transaction kind codes must run 1, 2, ... in table order");
#undef PEL_TX_KIND_IN_SEQUENCE

/// Stable snake_case name ("transfer", "token_mint", ...), as used in workload mix weights.
std::string_view kind_name(TxKind kind);

/// Payloads bigger than this are rejected by Transaction::decode (an airdrop to 256 recipients
/// needs ~5 KiB).
inline constexpr std::size_t kMaxPayloadBytes = 64 * 1024;

/// The signed envelope. The payload is opaque here: a payload that does not decode for its kind
/// is a valid transaction whose execution is discarded with a "malformed payload" receipt.
struct Transaction {
  PublicKey sender;
  std::uint64_t nonce = 0;
  std::uint64_t gas_limit = 0;
  std::uint64_t max_fee_per_gas = 0;
  std::uint32_t chain_id = 0;
  TxKind kind = TxKind::kTransfer;
  Bytes payload;
  Signature signature;

  /// sender(32) nonce(u64) gas_limit(u64) max_fee_per_gas(u64) chain_id(u32) kind(u8)
  /// payload(varint length + bytes): what the signature covers.
  Bytes signing_bytes() const;
  /// signing_bytes() then the 64-byte signature.
  Bytes encode() const;
  /// Strict: truncation, trailing bytes, an unknown kind or a payload over kMaxPayloadBytes fail.
  static Result<Transaction> decode(ByteView bytes);
  /// sha256(encode()).
  Hash256 hash() const;
  /// Sets sender to key's public key and signs signing_bytes().
  void sign(const KeyPair& key);
};

/// Verifies every transaction's signature on `threads` workers; result[i] == 1: valid.
std::vector<std::uint8_t> verify_signatures(std::span<const Transaction> txns, int threads);

// ---- payloads ---------------------------------------------------------------------------------
// Numbers are canonical varints, addresses 20 raw bytes; decode() is strict (no trailing bytes,
// ids within u32, enumerations within range). Token id 0 never names a token: it means the
// native coin where an asset is expected (a proposal's governance token).

struct TransferPayload : Codec<TransferPayload, Writer> {
  static constexpr const char* kName = "transfer payload";
  Address to;
  std::uint64_t amount = 0;
  void write(Writer& w) const;
  void read(StrictReader& r);
};

/// Issuer only: creates `amount` new units of `token` for `to`.
struct TokenMintPayload : Codec<TokenMintPayload, Writer> {
  static constexpr const char* kName = "token mint payload";
  std::uint32_t token = 0;
  Address to;
  std::uint64_t amount = 0;
  void write(Writer& w) const;
  void read(StrictReader& r);
};

struct TokenTransferPayload : Codec<TokenTransferPayload, Writer> {
  static constexpr const char* kName = "token transfer payload";
  std::uint32_t token = 0;
  Address to;
  std::uint64_t amount = 0;
  void write(Writer& w) const;
  void read(StrictReader& r);
};

/// Pools pair the native coin with one token. kNativeIn sells native coin for the token.
enum class SwapDirection : std::uint8_t { kNativeIn = 0, kTokenIn = 1 };

struct SwapPayload : Codec<SwapPayload, Writer> {
  static constexpr const char* kName = "swap payload";
  std::uint32_t pool = 0;
  SwapDirection direction = SwapDirection::kNativeIn;
  std::uint64_t amount_in = 0;
  std::uint64_t min_out = 0;  // slippage bound: fails when the output is smaller
  void write(Writer& w) const;
  void read(StrictReader& r);
};

/// Deposits both amounts in full (Uniswap v2 style: any excess over the pool's ratio is donated).
struct AddLiquidityPayload : Codec<AddLiquidityPayload, Writer> {
  static constexpr const char* kName = "add liquidity payload";
  std::uint32_t pool = 0;
  std::uint64_t amount_native = 0;
  std::uint64_t amount_token = 0;
  std::uint64_t min_shares = 0;
  void write(Writer& w) const;
  void read(StrictReader& r);
};

struct RemoveLiquidityPayload : Codec<RemoveLiquidityPayload, Writer> {
  static constexpr const char* kName = "remove liquidity payload";
  std::uint32_t pool = 0;
  std::uint64_t shares = 0;
  std::uint64_t min_native = 0;
  std::uint64_t min_token = 0;
  void write(Writer& w) const;
  void read(StrictReader& r);
};

/// Mints the collection's next id to the sender.
struct NftMintPayload : Codec<NftMintPayload, Writer> {
  static constexpr const char* kName = "nft mint payload";
  std::uint32_t collection = 0;
  void write(Writer& w) const;
  void read(StrictReader& r);
};

/// The sender (the owner) hands the NFT to `to`. price > 0 makes it a sale the owner settles:
/// `to` pays `price`, of which the collection's creator gets royalty_bps and the owner the rest
/// (a listing the buyer accepted beforehand; the model keeps one signature per transaction).
struct NftTransferPayload : Codec<NftTransferPayload, Writer> {
  static constexpr const char* kName = "nft transfer payload";
  std::uint32_t collection = 0;
  std::uint64_t id = 0;
  Address to;
  std::uint64_t price = 0;
  void write(Writer& w) const;
  void read(StrictReader& r);
};

struct StakePayload : Codec<StakePayload, Writer> {
  static constexpr const char* kName = "stake payload";
  std::uint32_t validator = 0;
  std::uint64_t amount = 0;
  void write(Writer& w) const;
  void read(StrictReader& r);
};

struct UnstakePayload : Codec<UnstakePayload, Writer> {
  static constexpr const char* kName = "unstake payload";
  std::uint32_t validator = 0;
  std::uint64_t amount = 0;
  void write(Writer& w) const;
  void read(StrictReader& r);
};

struct ClaimRewardsPayload : Codec<ClaimRewardsPayload, Writer> {
  static constexpr const char* kName = "claim rewards payload";
  std::uint32_t validator = 0;
  void write(Writer& w) const;
  void read(StrictReader& r);
};

/// One vote per address per proposal: voting again replaces the earlier vote.
struct VotePayload : Codec<VotePayload, Writer> {
  static constexpr const char* kName = "vote payload";
  std::uint32_t proposal = 0;
  std::uint32_t choice = 0;
  std::uint64_t weight = 0;  // at most the voter's balance of the proposal's token
  void write(Writer& w) const;
  void read(StrictReader& r);
};

inline constexpr std::size_t kMaxAirdropRecipients = 256;

/// `amount` of `token` to each recipient (1..256; repeats allowed and paid each time).
struct AirdropPayload : Codec<AirdropPayload, Writer> {
  static constexpr const char* kName = "airdrop payload";
  std::uint32_t token = 0;
  std::uint64_t amount = 0;
  std::vector<Address> recipients;
  void write(Writer& w) const;
  void read(StrictReader& r);
};

/// The kind each payload belongs to.
#define PEL_TX_KIND_OF(enumerator, code, payload_type, name, base_gas) \
  constexpr TxKind kind_of(const payload_type&) { return TxKind::enumerator; }
PEL_TX_KINDS(PEL_TX_KIND_OF)
#undef PEL_TX_KIND_OF

namespace detail {
// Drops the leading placeholder that lets the table expand to ", TransferPayload, ...".
template <typename Placeholder, typename... Payloads>
struct PayloadVariant {
  using type = std::variant<Payloads...>;
};
}  // namespace detail

/// One alternative per kind, in table order.
#define PEL_TX_KIND_PAYLOAD(enumerator, code, payload_type, name, base_gas) , payload_type
using Payload = detail::PayloadVariant<void PEL_TX_KINDS(PEL_TX_KIND_PAYLOAD)>::type;
#undef PEL_TX_KIND_PAYLOAD

/// Decodes `bytes` as the payload of `kind`.
Result<Payload> decode_payload(TxKind kind, ByteView bytes);

/// An unsigned transaction carrying `payload` (kind set from it); fill in the rest, then sign().
Transaction make_transaction(const Payload& payload);

}  // namespace pel::ledger
