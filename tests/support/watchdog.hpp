// A watchdog for tests that must never hang: if the guarded scope outlives its deadline, the
// process prints what it was doing (seed and all) and aborts, so ctest reports a failure
// instead of waiting forever.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace pel::testing {

class Watchdog {
 public:
  Watchdog(std::chrono::seconds deadline, std::string what)
      : what_(std::move(what)), thread_([this, deadline] {
          std::unique_lock lock(mutex_);
          if (!cv_.wait_for(lock, deadline, [this] { return finished_; })) {
            std::fprintf(stderr, "WATCHDOG: still running after %llds: %s\n",
                         static_cast<long long>(deadline.count()), what_.c_str());
            std::fflush(stderr);
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::string what_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace pel::testing
