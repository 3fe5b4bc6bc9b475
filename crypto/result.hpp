// Status and Result<T>: how every pel layer reports expected failures (bad input, I/O,
// verification). Exceptions are reserved for bugs; PEL_ASSERT aborts on a broken invariant.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace pel {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // malformed input: bad encoding, wrong length, unknown kind
  kCrypto,           // OpenSSL reported a failure
  kVerification,     // a signature, root or hash did not match
  kNotFound,
  kCorruption,       // stored data does not decode or fails a check
  kIo,               // the operating system or LevelDB reported an I/O failure
  kBusy,             // a resource (a database lock) is held by someone else
  kAborted,          // stopped on request or after an earlier error
};

const char* to_string(ErrorCode code);

/// The outcome of an operation that returns no value: OK, or an error code with a message a
/// person can act on (which file, which height, which transaction, what was expected).
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool is_ok() const { return code_ == ErrorCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  /// "code: message", for logs and the CLI.
  std::string to_string() const;

  /// The same error with `context` put in front of the message ("height 7: ...").
  Status with_context(const std::string& context) const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status error(ErrorCode code, std::string message) { return {code, std::move(message)}; }

/// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : state_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(state_).is_ok()) {
      state_ = Status(ErrorCode::kInvalidArgument, "Result built from an OK status without a value");
    }
  }

  bool is_ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return is_ok(); }

  const T& value() const& { return std::get<T>(state_); }
  T& value() & { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  /// OK when there is a value.
  Status status() const { return is_ok() ? Status::ok() : std::get<Status>(state_); }

 private:
  std::variant<T, Status> state_;
};

[[noreturn]] void assertion_failed(const char* expr, const char* file, int line, const char* msg);

}  // namespace pel

/// Aborts with a message when an internal invariant does not hold. Never for bad input.
#define PEL_ASSERT(expr, msg) \
  ((expr) ? static_cast<void>(0) : ::pel::assertion_failed(#expr, __FILE__, __LINE__, (msg)))

/// PEL_ASSERT in debug builds and in the sanitizer builds (PEL_CHECKED), nothing otherwise: for
/// invariants checked on a hot path, such as the scheduler's state transitions.
#if !defined(NDEBUG) || defined(PEL_CHECKED)
#define PEL_DEBUG_ASSERT(expr, msg) PEL_ASSERT(expr, msg)
#else
#define PEL_DEBUG_ASSERT(expr, msg) static_cast<void>(0)
#endif

/// Returns the Status of `expr` from the enclosing function when it is not OK.
#define PEL_TRY(expr)                      \
  do {                                     \
    ::pel::Status pel_try_status_ = (expr); \
    if (!pel_try_status_.is_ok()) return pel_try_status_; \
  } while (false)
