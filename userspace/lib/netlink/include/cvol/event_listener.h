// Subscription to the cvol target's events: the multicast group "events"
// of the generic netlink family "cvol", which dm-cvol registers when it
// loads. Events of every volume arrive on one socket.
#ifndef CVOL_EVENT_LISTENER_H_
#define CVOL_EVENT_LISTENER_H_

#include <deque>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cvol/event.h"

struct nl_sock;
struct nl_msg;

namespace cvol {

class EventListener {
 public:
  // Where the socket is opened. The kernel has the family in the initial
  // network namespace only.
  enum class Netns {
    kCurrent,  // this thread's: a listener in another namespace hears nothing
    kInitial,  // the initial one, entered for the socket (CAP_SYS_ADMIN):
               // for a daemon that manages the host's volumes from a
               // namespace of its own (the test harness runs hosts so)
  };

  // Resolves the family and the group and joins it. NotFound with a hint
  // to load the module if the family is not registered; PermissionDenied
  // without CAP_SYS_ADMIN.
  static absl::StatusOr<std::unique_ptr<EventListener>> Open(Netns netns = Netns::kCurrent);

  ~EventListener();
  EventListener(const EventListener&) = delete;
  EventListener& operator=(const EventListener&) = delete;

  // The next event, or nullopt once `timeout` passed without one
  // (absl::InfiniteDuration() waits for ever). A message that does not
  // decode is an InvalidArgument error for that message only. When the
  // socket buffer overflowed the kernel dropped messages: that is a
  // ResourceExhausted error, and the caller should resynchronise (the
  // listener itself stays usable).
  absl::StatusOr<std::optional<Event>> Receive(absl::Duration timeout);

 private:
  EventListener(nl_sock* sock, int family) : sock_(sock), family_(family) {}
  static int OnValid(nl_msg* msg, void* arg);

  nl_sock* sock_;
  int family_;
  // One recv() may carry several messages; they wait here.
  std::deque<absl::StatusOr<Event>> pending_;
};

}  // namespace cvol

#endif  // CVOL_EVENT_LISTENER_H_
