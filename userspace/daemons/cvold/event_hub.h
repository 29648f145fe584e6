// Fans events (the kernel's, translated, and the daemon's own) out to the
// `events` streams of clusterctl clients.
#ifndef CVOL_CVOLD_EVENT_HUB_H_
#define CVOL_CVOLD_EVENT_HUB_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

namespace cvol::daemon {

class EventHub {
 public:
  // Called on the publisher's thread; must not block.
  using Subscriber = std::function<void(const nlohmann::json& event)>;

  uint64_t Subscribe(Subscriber subscriber);
  void Unsubscribe(uint64_t id);

  // Adds "time_ns" if absent, logs the event, and passes it on.
  void Publish(nlohmann::json event);

 private:
  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Subscriber> subscribers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_EVENT_HUB_H_
