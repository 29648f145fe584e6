// The host lease of target 1.1: the daemon renews `lease <ms>`; if it
// stops, the target fences itself (holds or fails new I/O) and raises
// lease_expired. `fence` fences at once, `unfence <epoch>` lifts it. None
// of them answers anything (check with ParseEmptyResponse).
#ifndef CVOL_LEASE_MESSAGES_H_
#define CVOL_LEASE_MESSAGES_H_

#include <cstdint>
#include <optional>
#include <string>

namespace cvol {

// What happens to new I/O while fenced.
enum class FencePolicy {
  kHold,   // held until unfence (the target's default)
  kError,  // failed
};

// "lease <ms> [hold|error]"; 0 ms disarms the lease. Without a policy the
// target keeps its default.
std::string FormatLease(uint64_t ms, std::optional<FencePolicy> policy = std::nullopt);
std::string FormatFence();
std::string FormatUnfence(uint64_t epoch);

}  // namespace cvol

#endif  // CVOL_LEASE_MESSAGES_H_
