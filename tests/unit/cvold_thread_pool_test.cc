// ThreadPool: every task runs once, at most size() at once and up to
// size() at once, in order on one thread; Shutdown runs what was queued
// before it and drops what comes after, and nothing leaks (the sanitizer
// build runs these too).
#include "thread_pool.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace cvol::daemon {
namespace {

// Returns once Shutdown has begun on another thread: a task scheduled then
// is dropped at once (the ones queued before run later, and do nothing).
void WaitUntilShuttingDown(ThreadPool& pool) {
  while (true) {
    auto probe = std::make_shared<int>(0);
    pool.Schedule([probe] {});
    if (probe.use_count() == 1) return;
    absl::SleepFor(absl::Milliseconds(1));
  }
}

TEST(ThreadPoolTest, RunsEveryTaskOnce) {
  std::atomic<int> runs{0};
  {
    ThreadPool pool(4);
    for (int i = 0; i < 1000; ++i) pool.Schedule([&runs] { ++runs; });
  }
  EXPECT_EQ(runs.load(), 1000);
}

TEST(ThreadPoolTest, AtLeastOneThread) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 1u);
  absl::Notification ran;
  pool.Schedule([&ran] { ran.Notify(); });
  EXPECT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

TEST(ThreadPoolTest, OneThreadRunsTasksInOrder) {
  std::vector<int> order;  // only the pool's one thread writes it
  {
    ThreadPool pool(1);
    for (int i = 0; i < 100; ++i) pool.Schedule([&order, i] { order.push_back(i); });
  }
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

// size() tasks that each wait for all the others: they end only if they
// all run at once.
TEST(ThreadPoolTest, RunsSizeTasksAtOnce) {
  constexpr int kThreads = 8;
  ThreadPool pool(kThreads);
  absl::Mutex mu;
  int arrived = 0;
  std::atomic<int> met{0};
  for (int i = 0; i < kThreads; ++i) {
    pool.Schedule([&] {
      absl::MutexLock lock(&mu);
      ++arrived;
      auto all_here = [&arrived] { return arrived == kThreads; };
      if (mu.AwaitWithTimeout(absl::Condition(&all_here), absl::Seconds(10))) ++met;
    });
  }
  pool.Shutdown();
  EXPECT_EQ(met.load(), kThreads);
}

TEST(ThreadPoolTest, NeverMoreThanSizeAtOnce) {
  constexpr int kThreads = 3;
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  {
    ThreadPool pool(kThreads);
    for (int i = 0; i < 200; ++i) {
      pool.Schedule([&] {
        const int now = ++running;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        absl::SleepFor(absl::Microseconds(200));
        --running;
      });
    }
  }
  EXPECT_LE(most.load(), kThreads);
  EXPECT_GE(most.load(), 1);
}

TEST(ThreadPoolTest, ScheduleFromManyThreads) {
  std::atomic<int> runs{0};
  {
    ThreadPool pool(2);
    std::vector<std::thread> producers;
    for (int p = 0; p < 4; ++p) {
      producers.emplace_back([&] {
        for (int i = 0; i < 250; ++i) pool.Schedule([&runs] { ++runs; });
      });
    }
    for (std::thread& t : producers) t.join();
  }
  EXPECT_EQ(runs.load(), 1000);
}

// The queue is drained: a caller waiting for a queued task is not left
// waiting because the pool stopped.
TEST(ThreadPoolTest, ShutdownRunsTheQueuedTasks) {
  ThreadPool pool(1);
  absl::Notification release;
  absl::Notification first_running;
  std::atomic<int> runs{0};
  pool.Schedule([&] {
    first_running.Notify();
    release.WaitForNotification();
    ++runs;
  });
  first_running.WaitForNotification();
  for (int i = 0; i < 10; ++i) pool.Schedule([&runs] { ++runs; });
  std::thread stopper([&pool] { pool.Shutdown(); });
  WaitUntilShuttingDown(pool);
  release.Notify();
  stopper.join();
  EXPECT_EQ(runs.load(), 11);
}

TEST(ThreadPoolTest, ScheduleAfterShutdownDropsTheTask) {
  ThreadPool pool(2);
  pool.Shutdown();
  auto captured = std::make_shared<int>(0);
  bool ran = false;
  pool.Schedule([captured, &ran] { ran = true; });
  EXPECT_FALSE(ran);
  EXPECT_EQ(captured.use_count(), 1);  // the dropped task released it
  pool.Shutdown();                     // again: nothing to do
}

// A task that schedules another while the pool shuts down (a move that
// would run again later): the new one is dropped, and Shutdown returns.
TEST(ThreadPoolTest, TaskScheduledByATaskDuringShutdownIsDropped) {
  ThreadPool pool(1);
  absl::Notification release;
  absl::Notification running;
  std::atomic<bool> second_ran{false};
  pool.Schedule([&] {
    running.Notify();
    release.WaitForNotification();
    pool.Schedule([&second_ran] { second_ran = true; });
  });
  running.WaitForNotification();
  std::thread stopper([&pool] { pool.Shutdown(); });
  WaitUntilShuttingDown(pool);
  release.Notify();
  stopper.join();
  EXPECT_FALSE(second_ran.load());
}

// Work that reschedules itself until done gives its thread to the others
// between turns: with one thread, two such chains interleave.
TEST(ThreadPoolTest, RescheduledTasksTakeTurns) {
  ThreadPool pool(1);
  absl::Mutex mu;
  std::vector<char> turns;
  absl::Notification done;
  std::atomic<int> chains_left{2};
  std::function<void(char, int)> turn = [&](char name, int left) {
    {
      absl::MutexLock lock(&mu);
      turns.push_back(name);
    }
    if (left > 1) {
      pool.Schedule([&turn, name, left] { turn(name, left - 1); });
    } else if (--chains_left == 0) {
      done.Notify();
    }
  };
  pool.Schedule([&turn] { turn('a', 3); });
  pool.Schedule([&turn] { turn('b', 3); });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  pool.Shutdown();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(std::string(turns.begin(), turns.end()), "ababab");
}

}  // namespace
}  // namespace cvol::daemon
