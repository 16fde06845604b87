// Figures the benchmarks print: percentiles of a sample and one report line.
#pragma once

#include <algorithm>
#include <cstdio>
#include <vector>

namespace montana::testing {

/// The `p`th percentile (nearest rank) of `xs`; 0 for an empty sample.
inline double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto rank = static_cast<size_t>(p / 100.0 * static_cast<double>(xs.size() - 1) + 0.5);
  return xs[std::min(rank, xs.size() - 1)];
}

/// Prints "<what> n=.. p50=.. ms p99=.. ms max=.. ms".
inline void report(const char* what, const std::vector<double>& ms) {
  std::printf("%-34s n=%-3zu p50=%8.1f ms  p99=%8.1f ms  max=%8.1f ms\n", what, ms.size(),
              percentile(ms, 50), percentile(ms, 99),
              ms.empty() ? 0.0 : *std::max_element(ms.begin(), ms.end()));
}

} // namespace montana::testing
