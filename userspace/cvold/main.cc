// cvold: the cvol daemon of one host. See docs/cvold.md.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/signal_set.hpp"
#include "control_server.h"
#include "cvol/dm_client.h"
#include "cvol/event_listener.h"
#include "cvol/store/etcd_kv_store.h"
#include "daemon_config.h"
#include "event_hub.h"
#include "log.h"
#include "service.h"

namespace cvol::daemon {
namespace {

// systemd Type=notify, without libsystemd: one datagram to $NOTIFY_SOCKET.
void NotifySystemd(const char* state) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr || (path[0] != '/' && path[0] != '@')) return;
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  sendto(fd, state, strlen(state), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  close(fd);
}

void MakeParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return;
  mkdir(path.substr(0, slash).c_str(), 0755);
}

int Run(const std::vector<std::string>& args) {
  absl::StatusOr<DaemonConfig> config = ParseDaemonConfig(args);
  if (!config.ok()) {
    fprintf(stderr, "cvold: %s (see: cvold --help)\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (config->help) {
    fputs(config->help_text.c_str(), stdout);
    return 0;
  }
  store::EtcdKvStore::Options etcd_options;
  etcd_options.timeout = absl::Seconds(config->etcd_timeout_s);
  etcd_options.require_reachable = false;  // the data path must not wait for etcd
  absl::StatusOr<std::unique_ptr<store::EtcdKvStore>> etcd =
      store::EtcdKvStore::Connect(config->etcd_endpoints, etcd_options);
  if (!etcd.ok()) {
    LogError(absl::StrCat("etcd: ", etcd.status().message()));
    return 1;
  }
  DmClient dm;
  if (absl::StatusOr<std::array<uint32_t, 3>> v = dm.TargetVersion("cvol"); v.ok()) {
    LogInfo(absl::StrCat("dm target cvol ", (*v)[0], ".", (*v)[1], ".", (*v)[2]));
  } else {
    LogError(absl::StrCat("the cvol target is not available (modprobe dm-cvol): ",
                          v.status().message()));
  }
  EventHub events;
  ServiceOptions service_options;
  service_options.etcd_endpoints = config->etcd_endpoints;
  service_options.sys_block_dir = config->sys_block_dir;
  service_options.dev_dir = config->dev_dir;
  Service service(service_options, **etcd, config->etcd_prefix, dm, events);

  // Activation needs etcd; until it answers, keep trying (volumes that are
  // live already keep serving I/O meanwhile).
  for (int attempt = 0;; ++attempt) {
    absl::Status s = service.Start();
    if (s.ok()) break;
    if (attempt % 10 == 0) LogError(absl::StrCat("start: ", s.message(), "; retrying"));
    sleep(1);
  }

  boost::asio::io_context io;
  ControlServer server(io, service, events);
  MakeParentDir(config->socket);
  if (absl::Status s = server.Listen(config->socket); !s.ok()) {
    LogError(absl::StrCat("control socket: ", s.message()));
    return 1;
  }

  std::atomic<bool> stop{false};
  std::thread kernel_events([&] {
    absl::StatusOr<std::unique_ptr<EventListener>> listener = EventListener::Open();
    if (!listener.ok()) {
      LogError(absl::StrCat("kernel events unavailable: ", listener.status().message()));
      return;
    }
    while (!stop.load()) {
      absl::StatusOr<std::optional<Event>> e = (*listener)->Receive(absl::Milliseconds(500));
      if (!e.ok()) {
        LogWarning(absl::StrCat("kernel events: ", e.status().message()));
        continue;
      }
      if (*e) service.OnKernelEvent(**e);
    }
  });

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int signo) {
    LogInfo(absl::StrCat("signal ", signo, ": stopping"));
    server.Close();
    io.stop();
  });
  LogInfo(absl::StrCat("serving on ", config->socket));
  NotifySystemd("READY=1");
  io.run();
  NotifySystemd("STOPPING=1");
  stop = true;
  kernel_events.join();
  service.Stop();
  return 0;
}

}  // namespace
}  // namespace cvol::daemon

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  return cvol::daemon::Run(std::vector<std::string>(argv + 1, argv + argc));
}
