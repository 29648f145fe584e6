// Where background work runs: a bounded pool of threads in the daemon,
// the seeded scheduler in the simulation (so that background work
// interleaves with faults there, deterministically). Work that outlives a
// request -- a long re-copy, a move's worker -- is scheduled here instead
// of on a thread of its own.
#ifndef CVOL_CVOLD_EXECUTOR_H_
#define CVOL_CVOLD_EXECUTOR_H_

#include <functional>

namespace cvol::daemon {

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs task soon, once, not on the caller's stack.
  virtual void Schedule(std::function<void()> task) = 0;
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_EXECUTOR_H_
