// Reading ahead: while the caller works on item k, another thread prepares item k+1 (reads a
// block, checks its signatures). The one prefetch that import and replay share.
// Thread-safety: one owner; the loader runs on its own thread and must touch nothing the owner
// uses meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <utility>

namespace pel {

template <typename T>
class ReadAhead {
 public:
  explicit ReadAhead(std::function<T(std::uint64_t index)> load) : load_(std::move(load)) {}
  /// Waits for a load still running: it may use what its owner is about to free.
  ~ReadAhead() { wait(); }
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  /// Starts loading item `index` on another thread.
  void start(std::uint64_t index) { next_ = std::async(std::launch::async, load_, index); }
  /// Whether a load was started and not yet taken.
  bool started() const { return next_.valid(); }
  /// The started load's result, once it is ready.
  T take() { return next_.get(); }
  /// Waits for the started load, if any, without taking it.
  void wait() {
    if (next_.valid()) next_.wait();
  }

 private:
  std::function<T(std::uint64_t)> load_;
  std::future<T> next_;
};

}  // namespace pel
