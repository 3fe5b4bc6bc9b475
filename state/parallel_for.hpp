// Data-parallel loops for the state and engine layers: oneTBB's parallel_for on the calling
// thread's arena, or a plain loop under ThreadSanitizer (Debian's libtbb is not instrumented, so
// its task hand-overs would be reported as races that are not pel's).
#pragma once

#include <algorithm>
#include <cstddef>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <oneapi/tbb/parallel_sort.h>

#include "state/types.hpp"

namespace pel {

/// Calls fn(begin, end) over disjoint sub-ranges covering [0, n), possibly concurrently.
template <typename Fn>
void parallel_ranges(std::size_t n, std::size_t grain, Fn&& fn) {
#if defined(__SANITIZE_THREAD__)
  (void)grain;
  if (n > 0) fn(std::size_t{0}, n);
#else
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, grain),
                    [&fn](const tbb::blocked_range<std::size_t>& r) { fn(r.begin(), r.end()); });
#endif
}

/// Folds [0, n) into one T: fn(begin, end, acc) folds a sub-range into acc, combine(a, b) joins
/// two partial results (it must be associative and commutative), identity starts each part.
template <typename T, typename Fn, typename Combine>
T parallel_reduce_ranges(std::size_t n, std::size_t grain, const T& identity, Fn&& fn, Combine&& combine) {
#if defined(__SANITIZE_THREAD__)
  (void)grain;
  (void)combine;
  return fn(std::size_t{0}, n, identity);
#else
  return tbb::parallel_reduce(
      tbb::blocked_range<std::size_t>(0, n, grain), identity,
      [&fn](const tbb::blocked_range<std::size_t>& r, T acc) { return fn(r.begin(), r.end(), std::move(acc)); },
      combine);
#endif
}

/// Sorts a write set by key, possibly concurrently.
inline void sort_writes(WriteSet& writes) {
  auto by_key = [](const Write& a, const Write& b) { return a.key < b.key; };
#if defined(__SANITIZE_THREAD__)
  std::sort(writes.begin(), writes.end(), by_key);
#else
  tbb::parallel_sort(writes.begin(), writes.end(), by_key);
#endif
}

}  // namespace pel
