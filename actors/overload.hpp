// Exhaustive dispatch over a std::variant: `std::visit(overload{[](const a&) {...}, ...}, x)`
// fails to compile when an alternative has no handler, so a new case cannot be ignored silently.
#pragma once

namespace montana {

/// One callable made of several lambdas, one per alternative of a variant.
template <class... Fs>
struct overload : Fs... {
  using Fs::operator()...;
};

} // namespace montana
