#include "clock.h"

#include <time.h>

#include "absl/time/clock.h"

namespace cvol::daemon {

absl::Time SteadyClock::Now() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return absl::UnixEpoch() + absl::DurationFromTimespec(ts);
}

void SteadyClock::SleepFor(absl::Duration d) { absl::SleepFor(d); }

}  // namespace cvol::daemon
