// The daemon's Executor: a fixed number of threads that take tasks from one
// queue, first in first out. A task holds its thread until it returns, so a
// pool serves at most size() tasks at once; work that waits a long time for
// something else should give its thread back (schedule itself again)
// rather than sleep on it.
#ifndef CVOL_CVOLD_THREAD_POOL_H_
#define CVOL_CVOLD_THREAD_POOL_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "executor.h"

namespace cvol::daemon {

class ThreadPool final : public Executor {
 public:
  // Starts `threads` threads (at least one).
  explicit ThreadPool(size_t threads);
  // Shutdown().
  ~ThreadPool() override;

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues the task. Once Shutdown has begun the task is dropped
  // (destroyed, not run): it could not be run without a thread to run it.
  void Schedule(std::function<void()> task) override;

  // Stops taking tasks, runs every task queued before it began (a caller
  // that waits for a task it scheduled is never left waiting), and joins
  // the threads. Tasks should therefore end soon once their owner told them
  // to stop. Idempotent (a second call while the first joins returns at
  // once); never from one of the pool's own tasks (it would wait for
  // itself).
  void Shutdown();

  size_t size() const { return size_; }

 private:
  void Work();

  const size_t size_;
  absl::Mutex mu_;
  absl::CondVar work_ready_;  // with mu_: a task was queued, or shutdown began
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  // Moved out by the first Shutdown, which joins them.
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_THREAD_POOL_H_
