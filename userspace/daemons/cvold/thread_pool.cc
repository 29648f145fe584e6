#include "thread_pool.h"

#include <algorithm>
#include <utility>

namespace cvol::daemon {

ThreadPool::ThreadPool(size_t threads) : size_(std::max<size_t>(threads, 1)) {
  absl::MutexLock lock(&mu_);
  threads_.reserve(size_);
  for (size_t i = 0; i < size_; ++i) threads_.emplace_back([this] { Work(); });
}

ThreadPool::~ThreadPool() { Shutdown(); }

void ThreadPool::Schedule(std::function<void()> task) {
  {
    absl::MutexLock lock(&mu_);
    if (!shutting_down_) {
      queue_.push_back(std::move(task));
      work_ready_.Signal();
      return;
    }
  }
  // Dropped: destroyed here, outside the lock, since what it captured may
  // take locks of its own when it goes.
  task = nullptr;
}

void ThreadPool::Shutdown() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    threads.swap(threads_);
    work_ready_.SignalAll();
  }
  for (std::thread& t : threads) t.join();
}

void ThreadPool::Work() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      while (queue_.empty() && !shutting_down_) work_ready_.Wait(&mu_);
      // Shutting down with nothing left: every queued task has been taken.
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace cvol::daemon
