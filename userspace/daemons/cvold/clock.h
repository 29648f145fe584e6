// Time as the cluster controller and the peer handlers see it: a monotonic
// clock (an NTP step must not stretch a lease or a deadline) and a way to
// wait. The daemon uses the steady clock; the simulation a clock of its
// own, whose waits let the rest of the simulated cluster run.
#ifndef CVOL_CVOLD_CLOCK_H_
#define CVOL_CVOLD_CLOCK_H_

#include "absl/time/time.h"

namespace cvol::daemon {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic: only differences mean anything.
  virtual absl::Time Now() = 0;
  virtual void SleepFor(absl::Duration d) = 0;
};

// CLOCK_BOOTTIME and absl::SleepFor. Boottime, like the kernel lease's
// deadlines: a host suspended past its lease must find, when it wakes, that
// the time since its last renewal includes the sleep (CLOCK_MONOTONIC stops
// in suspend, and would size a kernel lease from a renewal long gone).
class SteadyClock final : public Clock {
 public:
  absl::Time Now() override;
  void SleepFor(absl::Duration d) override;
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_CLOCK_H_
