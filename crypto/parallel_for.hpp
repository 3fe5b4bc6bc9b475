// Data-parallel loops for every layer: oneTBB on the calling thread's arena, or a plain loop
// under ThreadSanitizer (Debian's libtbb is not instrumented, so its task hand-overs would be
// reported as races that are not pel's). Every pel loop that runs in parallel goes through here,
// so the ThreadSanitizer builds check all of pel's own synchronisation.
#pragma once

#include <algorithm>
#include <cstddef>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <oneapi/tbb/parallel_sort.h>

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

/// Sorts [begin, end) by `less`, possibly concurrently.
template <typename It, typename Less>
void parallel_sort(It begin, It end, Less less) {
#if defined(__SANITIZE_THREAD__)
  std::sort(begin, end, less);
#else
  tbb::parallel_sort(begin, end, less);
#endif
}

}  // namespace pel
