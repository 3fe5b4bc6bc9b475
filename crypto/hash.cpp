#include "crypto/hash.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

#include "crypto/openssl_util.hpp"

namespace pel {

namespace {

// Fetched once per process: EVP_sha256() and SHA256() re-fetch from the provider under a global
// lock on every call and stop parallel workers from scaling (design.md section 9).
const EVP_MD* fetched(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) detail::throw_openssl_error(std::string("EVP_MD_fetch ") + name);
  return md;
}

const EVP_MD* sha256_md() {
  static const detail::MdPtr md(const_cast<EVP_MD*>(fetched("SHA256")));
  return md.get();
}

// One context per thread, reused: no allocation per hash.
EVP_MD_CTX* thread_ctx() {
  thread_local detail::MdCtxPtr ctx = detail::new_md_ctx();
  return ctx.get();
}

void init(EVP_MD_CTX* ctx, const EVP_MD* md) {
  if (EVP_DigestInit_ex2(ctx, md, nullptr) != 1) detail::throw_openssl_error("EVP_DigestInit_ex2");
}

void update(EVP_MD_CTX* ctx, ByteView data) {
  if (EVP_DigestUpdate(ctx, data.data(), data.size()) != 1) {
    detail::throw_openssl_error("EVP_DigestUpdate");
  }
}

Hash256 final_sha256(EVP_MD_CTX* ctx) {
  Hash256 h;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, h.bytes.data(), &len) != 1 || len != h.bytes.size()) {
    detail::throw_openssl_error("EVP_DigestFinal_ex");
  }
  return h;
}

}  // namespace

namespace detail {

void throw_openssl_error(const std::string& what) {
  unsigned long code = ERR_get_error();
  char buf[256] = "no OpenSSL error queued";
  if (code != 0) ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  throw std::runtime_error("OpenSSL " + what + " failed: " + buf);
}

MdCtxPtr new_md_ctx() {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) throw_openssl_error("EVP_MD_CTX_new");
  return ctx;
}

void MdFree::operator()(EVP_MD* md) const { EVP_MD_free(md); }
void MdCtxFree::operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
void CipherFree::operator()(EVP_CIPHER* cipher) const { EVP_CIPHER_free(cipher); }
void CipherCtxFree::operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }

}  // namespace detail

std::string Hash256::hex() const { return to_hex(bytes); }

Result<Hash256> Hash256::from_hex(std::string_view hex) {
  std::string_view digits = hex;
  if (digits.starts_with("0x") || digits.starts_with("0X")) digits.remove_prefix(2);
  if (digits.size() != 64) {
    return error(ErrorCode::kInvalidArgument,
                 "hash must be 64 hex digits, got " + std::to_string(digits.size()));
  }
  Result<Bytes> raw = pel::from_hex(digits);
  if (!raw) return raw.status();
  Hash256 h;
  std::copy(raw->begin(), raw->end(), h.bytes.begin());
  return h;
}

bool Hash256::is_zero() const {
  std::uint8_t acc = 0;
  for (std::uint8_t b : bytes) acc |= b;
  return acc == 0;
}

Hash256 sha256(ByteView data) {
  EVP_MD_CTX* ctx = thread_ctx();
  init(ctx, sha256_md());
  update(ctx, data);
  return final_sha256(ctx);
}

void Sha256::CtxFree::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_) detail::throw_openssl_error("EVP_MD_CTX_new");
  init(ctx_.get(), sha256_md());
}

Sha256::~Sha256() = default;

Sha256& Sha256::update(ByteView data) {
  pel::update(ctx_.get(), data);
  return *this;
}

Hash256 Sha256::finish() {
  Hash256 h = final_sha256(ctx_.get());
  init(ctx_.get(), sha256_md());
  return h;
}

}  // namespace pel
