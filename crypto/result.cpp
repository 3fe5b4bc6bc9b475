#include "crypto/result.hpp"

namespace pel {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kCrypto: return "crypto error";
    case ErrorCode::kVerification: return "verification failed";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kCorruption: return "corruption";
    case ErrorCode::kIo: return "I/O error";
    case ErrorCode::kBusy: return "busy";
    case ErrorCode::kAborted: return "aborted";
  }
  return "unknown error";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(pel::to_string(code_)) + ": " + message_;
}

Status Status::with_context(const std::string& context) const {
  if (is_ok()) return *this;
  return Status(code_, context + ": " + message_);
}

void assertion_failed(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "pel: assertion failed: %s (%s) at %s:%d\n", expr, msg, file, line);
  std::abort();
}

}  // namespace pel
