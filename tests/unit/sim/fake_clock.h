// A Clock for the simulation's unit tests: time moves only when a test (or
// a wait) moves it.
#ifndef CVOL_TESTS_UNIT_SIM_FAKE_CLOCK_H_
#define CVOL_TESTS_UNIT_SIM_FAKE_CLOCK_H_

#include "absl/time/time.h"
#include "clock.h"

namespace cvol::daemon::sim {

class FakeClock final : public Clock {
 public:
  absl::Time Now() override { return now_; }
  void SleepFor(absl::Duration d) override { now_ += d; }

 private:
  absl::Time now_ = absl::UnixEpoch() + absl::Hours(1);
};

}  // namespace cvol::daemon::sim

#endif  // CVOL_TESTS_UNIT_SIM_FAKE_CLOCK_H_
