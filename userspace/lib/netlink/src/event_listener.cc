#include "cvol/event_listener.h"

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/socket.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cvol/event_netlink.h"
#include "linux/dm-cvol.h"

namespace cvol {
namespace {

// Room for a burst: a volume's ring holds CVOL_EVENT_RING events and many
// volumes may drain theirs at once. The kernel may cap it (rmem_max).
constexpr int kReceiveBufferBytes = 4 << 20;

absl::Status NlError(absl::string_view what, int err) {
  return absl::UnavailableError(absl::StrCat(what, ": ", nl_geterror(err)));
}

// A socket keeps the network namespace it was created in; setns() moves
// only the calling thread, which goes back at once.
absl::Status ConnectInInitialNetns(nl_sock* sock) {
  const int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) return absl::ErrnoToStatus(errno, "open /proc/thread-self/ns/net");
  const int initial = open("/proc/1/ns/net", O_RDONLY | O_CLOEXEC);
  if (initial < 0) {
    const int err = errno;
    close(self);
    return absl::ErrnoToStatus(err, "open /proc/1/ns/net");
  }
  absl::Status s;
  if (setns(initial, CLONE_NEWNET) != 0) {
    s = absl::ErrnoToStatus(errno, "entering the initial network namespace");
  } else {
    if (int err = genl_connect(sock); err < 0) s = NlError("generic netlink connect", err);
    // Without the way back this thread would stay in the wrong namespace.
    if (setns(self, CLONE_NEWNET) != 0) {
      s = absl::ErrnoToStatus(errno, "returning to this thread's network namespace");
    }
  }
  close(initial);
  close(self);
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventListener>> EventListener::Open(Netns netns) {
  nl_sock* sock = nl_socket_alloc();
  if (sock == nullptr) return absl::ResourceExhaustedError("nl_socket_alloc failed");
  // Owns the socket until the listener does.
  std::unique_ptr<nl_sock, void (*)(nl_sock*)> guard(sock, nl_socket_free);

  if (netns == Netns::kInitial) {
    if (absl::Status s = ConnectInInitialNetns(sock); !s.ok()) return s;
  } else if (int err = genl_connect(sock); err < 0) {
    return NlError("generic netlink connect", err);
  }
  const int family = genl_ctrl_resolve(sock, CVOL_GENL_NAME);
  if (family == -NLE_OBJ_NOTFOUND) {
    return absl::NotFoundError(absl::StrCat(
        "generic netlink family \"", CVOL_GENL_NAME,
        "\" is not registered: is the dm-cvol module loaded (modprobe dm-cvol)? It exists only "
        "in the initial network namespace"));
  }
  if (family < 0) return NlError(absl::StrCat("resolving family ", CVOL_GENL_NAME), family);
  const int group = genl_ctrl_resolve_grp(sock, CVOL_GENL_NAME, CVOL_GENL_EVENTS_GROUP);
  if (group == -NLE_OBJ_NOTFOUND) {
    return absl::NotFoundError(absl::StrCat(
        "generic netlink family \"", CVOL_GENL_NAME, "\" has no multicast group \"",
        CVOL_GENL_EVENTS_GROUP, "\": dm-cvol too old for this tool?"));
  }
  if (group < 0) {
    return NlError(absl::StrCat("resolving group ", CVOL_GENL_EVENTS_GROUP), group);
  }

  std::unique_ptr<EventListener> listener(new EventListener(guard.release(), family));
  // Multicast messages carry no sequence numbers of ours.
  nl_socket_disable_seq_check(listener->sock_);
  if (int err = nl_socket_modify_cb(listener->sock_, NL_CB_VALID, NL_CB_CUSTOM,
                                    &EventListener::OnValid, listener.get());
      err < 0) {
    return NlError("netlink callback", err);
  }
  // Best effort: a smaller buffer only makes overruns likelier.
  (void)nl_socket_set_buffer_size(listener->sock_, kReceiveBufferBytes, 0);
  if (int err = nl_socket_set_nonblocking(listener->sock_); err < 0) {
    return NlError("netlink non-blocking mode", err);
  }
  if (int err = nl_socket_add_membership(listener->sock_, group); err < 0) {
    if (err == -NLE_PERM) {
      return absl::PermissionDeniedError(absl::StrCat(
          "joining group ", CVOL_GENL_EVENTS_GROUP, ": the events need CAP_SYS_ADMIN"));
    }
    return NlError(absl::StrCat("joining group ", CVOL_GENL_EVENTS_GROUP), err);
  }
  return listener;
}

EventListener::~EventListener() { nl_socket_free(sock_); }

int EventListener::OnValid(nl_msg* msg, void* arg) {
  auto* self = static_cast<EventListener*>(arg);
  if (nlmsg_hdr(msg)->nlmsg_type == self->family_) {
    self->pending_.push_back(DecodeEventMessage(msg));
  }
  return NL_OK;
}

absl::StatusOr<std::optional<Event>> EventListener::Receive(absl::Duration timeout) {
  const absl::Time deadline =
      timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  for (;;) {
    if (!pending_.empty()) {
      absl::StatusOr<Event> next = std::move(pending_.front());
      pending_.pop_front();
      if (!next.ok()) return next.status();
      return std::optional<Event>(std::move(*next));
    }
    int wait_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return std::optional<Event>();
      wait_ms = static_cast<int>(
          std::min<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
                            std::numeric_limits<int>::max()));
    }
    pollfd pfd{nl_socket_get_fd(sock_), POLLIN, 0};
    const int ready = poll(&pfd, 1, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "poll on the netlink socket");
    }
    if (ready == 0) continue;  // the deadline check above ends the wait
    const int err = nl_recvmsgs_default(sock_);
    if (err == -NLE_AGAIN) continue;
    if (err == -NLE_NOMEM) {
      // recvmsg() said ENOBUFS: the kernel dropped multicast messages.
      return absl::ResourceExhaustedError(
          "netlink receive buffer overrun: events were lost, resynchronise from the status");
    }
    if (err < 0) return NlError("netlink receive", err);
  }
}

}  // namespace cvol
