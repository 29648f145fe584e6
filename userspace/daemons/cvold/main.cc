// cvold: the cvol daemon of one host. See docs/cvold.md.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/signal_set.hpp"
#include "cluster_agent.h"
#include "control_server.h"
#include "cvol/peer/peer_client.h"
#include "cvol/peer/peer_server.h"
#include "cvol/peer/peer_tls.h"
#include "cvol/peer/secret.h"
#include "cvol/dm_client.h"
#include "cvol/event_listener.h"
#include "cvol/store/etcd_kv_store.h"
#include "daemon_config.h"
#include "descriptor_limit.h"
#include "event_hub.h"
#include "log.h"
#include "service.h"
#include "thread_pool.h"

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

// The controller's calls, over the peer protocol.
class PeerCallerImpl : public PeerCaller {
 public:
  // Only the move workers ask rounds, one at a time each (ServiceOptions::
  // move_workers, 16): 64 calls in flight let 16 moves ask 4 members at
  // once, or one volume's 8 migrations ask 8 members, without a round
  // waiting for another round's slow calls. Beyond that a call waits for a
  // free thread, at most one peer deadline per call ahead of it.
  static constexpr size_t kCallsInFlight = 64;

  explicit PeerCallerImpl(peer::PeerClientOptions options)
      : PeerCaller(&fan_out_), fan_out_(kCallsInFlight), client_(std::move(options)) {}

  PeerAnswer Ask(const PeerTarget& to, const std::string& type, int64_t epoch,
                 const nlohmann::json& body, absl::Duration deadline) override {
    peer::PeerRequest request;
    request.type = type;
    request.epoch = static_cast<uint64_t>(epoch);
    request.body = body;
    absl::StatusOr<peer::PeerReply> reply = client_.Call(to.host, to.address, std::move(request), deadline);
    PeerAnswer answer;
    if (!reply.ok()) {
      // A reply that arrived but is not one (DataLoss) is an answer of a
      // kind: the host is alive and talking.
      if (reply.status().code() == absl::StatusCode::kDataLoss) {
        answer.verdict = reply.status();
      } else {
        answer.transport = reply.status();
      }
    } else if (!reply->status.ok()) {
      answer.verdict = reply->status;
    } else {
      answer.verdict = reply->body;
    }
    return answer;
  }

 private:
  ThreadPool fan_out_;  // AskAll's calls
  peer::PeerClient client_;
};

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
  RaiseDescriptorLimitAndLog();
  store::EtcdKvStore::Options etcd_options;
  etcd_options.timeout = absl::Seconds(config->etcd_timeout_s);
  etcd_options.require_reachable = false;  // the data path must not wait for etcd
  ApplyEtcdClientSettings(config->etcd_security, &etcd_options);
  if (config->etcd_security.insecure &&
      absl::StartsWith(config->etcd_endpoints, "http://")) {
    LogWarning(absl::StrCat("etcd: plain http to ", config->etcd_endpoints,
                            " (--etcd-insecure): whoever reaches etcd or the network can read "
                            "and rewrite this cluster's configuration (docs/security.md)"));
  }
  absl::StatusOr<std::unique_ptr<store::EtcdKvStore>> etcd =
      store::EtcdKvStore::Connect(config->etcd_endpoints, etcd_options);
  if (!etcd.ok()) {
    LogError(absl::StrCat("etcd: ", etcd.status().message()));
    return 1;
  }
  DmClient dm;
  if (absl::StatusOr<std::array<uint32_t, 3>> v = dm.TargetVersion("cvol"); v.ok()) {
    LogInfo(absl::StrCat("dm target cvol ", (*v)[0], ".", (*v)[1], ".", (*v)[2]));
    // A cluster needs the fenced feature and migrate_recopy (1.5): an
    // older module would refuse every re-copy and roll every move back.
    if (!config->host.empty() && ((*v)[0] != 1 || (*v)[1] < 5)) {
      LogError(absl::StrCat("cluster mode needs dm-cvol 1.5 or later (loaded: ", (*v)[0], ".",
                            (*v)[1], "); install the matching module"));
      return 1;
    }
  } else {
    LogError(absl::StrCat("the cvol target is not available (modprobe dm-cvol): ",
                          v.status().message()));
  }
  EventHub events;
  ServiceOptions service_options;
  service_options.etcd_endpoints = config->etcd_endpoints;
  service_options.sys_block_dir = config->sys_block_dir;
  service_options.dev_dir = config->dev_dir;
  service_options.instance = config->instance;
  service_options.cluster_freeze_timeout_ms = config->cluster_freeze_timeout_ms;
  service_options.peer_deadline = absl::Seconds(config->peer_deadline_s);
  service_options.recopy_inline = absl::Milliseconds(config->recopy_inline_ms);
  Service service(service_options, **etcd, config->etcd_prefix, dm, events);

  // Cluster mode: the peer protocol and the membership agent.
  std::unique_ptr<PeerCallerImpl> peers;
  std::unique_ptr<store::EtcdKvStore> agent_etcd;
  std::unique_ptr<ClusterAgent> agent;
  std::unique_ptr<peer::PeerServer> peer_server;
  if (!config->host.empty()) {
    absl::StatusOr<std::string> secret = peer::LoadClusterSecret(config->cluster_secret_file);
    if (!secret.ok()) {
      LogError(absl::StrCat("cluster secret: ", secret.status().message()));
      return 1;
    }
    const peer::PeerTlsFiles tls{config->peer_cacert, config->peer_cert, config->peer_key};
    if (absl::Status s = peer::CheckOwnCertificate(tls, config->host); !s.ok()) {
      LogError(absl::StrCat("peer certificate: ", s.message()));
      return 1;
    }
    peer::PeerClientOptions client_options;
    client_options.secret = *secret;
    client_options.tls = tls;
    client_options.self = config->host;
    // A round asks every member at once, and 16 move workers ask rounds:
    // keeping 16 idle connections per member spares most calls a new
    // handshake (the server allows 128 per address).
    client_options.max_idle_per_address = 16;
    peers = std::make_unique<PeerCallerImpl>(std::move(client_options));
    ClusterAgent::Hooks hooks;
    hooks.renew_kernel_leases = [&service](uint64_t ms) { service.RenewKernelLeases(ms); };
    hooks.fence_all = [&service] { service.FenceAll(); };
    hooks.reintegrate = [&service](int64_t epoch, absl::Time renewal_sent) {
      return service.Reintegrate(epoch, renewal_sent);
    };
    hooks.sync = [&service] { service.SyncVolumes(); };
    hooks.drive_changes = [&service] { service.DriveChanges(); };
    hooks.publish = [&service, host = config->host](const std::string& type,
                                                    const std::string& detail) {
      service.PublishEvent({{"type", type}, {"host", host}, {"detail", detail}});
    };
    // The lease has its own connection: a slow request of the service
    // must never delay a renewal (the store serialises its requests).
    // Shorter timeouts too: a keepalive that fails on every endpoint must
    // leave time to ask the members about the quorum (docs/cluster.md).
    store::EtcdKvStore::Options lease_options = etcd_options;
    lease_options.timeout = std::clamp(absl::Seconds(config->lease_ttl_s) / 8,
                                       absl::Milliseconds(500), etcd_options.timeout);
    absl::StatusOr<std::unique_ptr<store::EtcdKvStore>> lease_etcd =
        store::EtcdKvStore::Connect(config->etcd_endpoints, lease_options);
    if (!lease_etcd.ok()) {
      LogError(absl::StrCat("etcd: ", lease_etcd.status().message()));
      return 1;
    }
    agent_etcd = std::move(*lease_etcd);
    agent = std::make_unique<ClusterAgent>(
        **etcd, *agent_etcd,
        ClusterAgentOptions{config->etcd_prefix, config->host, {config->peer_address},
                            config->lease_ttl_s},
        std::move(hooks));
    service.AttachCluster(agent.get(), peers.get());
    peer::PeerServerOptions server_options;
    server_options.secret = *secret;
    server_options.tls = tls;
    server_options.log = [](std::string line) { LogWarning(absl::StrCat("peer: ", line)); };
    server_options.worker_threads = 8;
    absl::StatusOr<std::unique_ptr<peer::PeerServer>> started = peer::PeerServer::Start(
        config->peer_listen,
        [&service](const peer::PeerRequest& request) {
          absl::StatusOr<nlohmann::json> r =
              service.HandlePeer(request.type, static_cast<int64_t>(request.epoch), request.from,
                                 request.body);
          peer::PeerReply reply;
          reply.id = request.id;
          if (r.ok()) {
            reply.body = std::move(*r);
          } else {
            reply.status = r.status();
          }
          return reply;
        },
        server_options);
    if (!started.ok()) {
      LogError(absl::StrCat("peer listener ", config->peer_listen, ": ", started.status().message()));
      return 1;
    }
    peer_server = std::move(*started);
  }

  // Activation needs etcd; until it answers, keep trying (volumes that are
  // live already keep serving I/O meanwhile).
  for (int attempt = 0;; ++attempt) {
    absl::Status s = service.Start();
    if (s.ok()) break;
    if (attempt % 10 == 0) LogError(absl::StrCat("start: ", s.message(), "; retrying"));
    sleep(1);
  }

  if (agent) {
    (void)agent->Start();
    LogInfo(absl::StrCat("cluster: peer protocol on ", config->peer_listen));
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
    // The kernel has its events in the initial network namespace; this
    // daemon may run in another one (its peer addresses live there).
    absl::StatusOr<std::unique_ptr<EventListener>> listener =
        EventListener::Open(EventListener::Netns::kInitial);
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
  if (agent) agent->Stop();
  service.Stop();
  if (peer_server) peer_server->Stop();
  return 0;
}

}  // namespace
}  // namespace cvol::daemon

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  return cvol::daemon::Run(std::vector<std::string>(argv + 1, argv + argc));
}
