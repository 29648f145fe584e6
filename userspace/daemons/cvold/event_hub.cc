#include "event_hub.h"

#include <time.h>

#include <utility>

#include "log.h"

namespace cvol::daemon {

uint64_t EventHub::Subscribe(Subscriber subscriber) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  subscribers_[id] = std::move(subscriber);
  return id;
}

void EventHub::Unsubscribe(uint64_t id) {
  absl::MutexLock lock(&mu_);
  subscribers_.erase(id);
}

void EventHub::Publish(nlohmann::json event) {
  if (!event.contains("time_ns")) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    event["time_ns"] = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
  }
  LogInfo("event " + event.dump());
  absl::MutexLock lock(&mu_);
  for (const auto& [id, subscriber] : subscribers_) subscriber(event);
}

}  // namespace cvol::daemon
