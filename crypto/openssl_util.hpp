// Internal to crypto/: owning pointers for OpenSSL objects and the one error path for OpenSSL
// failures that are not caused by input (out of memory, broken provider). Not a public header.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>

namespace pel::detail {

struct MdFree {
  void operator()(EVP_MD* md) const;
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const;
};

struct CipherFree {
  void operator()(EVP_CIPHER* cipher) const;
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const;
};

using CipherPtr = std::unique_ptr<EVP_CIPHER, CipherFree>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using MdPtr = std::unique_ptr<EVP_MD, MdFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

/// Throws std::runtime_error carrying `what` and the OpenSSL error string; clears the queue.
[[noreturn]] void throw_openssl_error(const std::string& what);

/// A fresh EVP_MD_CTX; throws only when OpenSSL cannot allocate.
MdCtxPtr new_md_ctx();

}  // namespace pel::detail
