// cvold's settings: command line over /etc/cvol/cvold.conf over defaults.
#ifndef CVOL_CVOLD_DAEMON_CONFIG_H_
#define CVOL_CVOLD_DAEMON_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etcd_client_settings.h"

namespace cvol::daemon {

struct DaemonConfig {
  std::string config_file = "/etc/cvol/cvold.conf";
  std::string etcd_endpoints = "http://127.0.0.1:2379";
  std::string etcd_prefix = "/cvol/";
  double etcd_timeout_s = 2.0;
  EtcdClientSettings etcd_security;  // TLS, auth, --etcd-insecure
  std::string socket = "/run/cvol/cvold.sock";
  std::string sys_block_dir = "/sys/class/block";
  std::string dev_dir = "/dev";
  // Cluster (docs/cluster.md): all empty for a single host.
  std::string host;                 // this host's member name
  std::string instance;             // several daemons on one kernel (tests)
  std::string peer_listen;          // host:port of the peer protocol
  std::string peer_address;         // what peers dial; peer_listen if empty
  std::string cluster_secret_file;  // the shared HMAC key, mode 0600
  // This host's identity on the peer links (mutual TLS): the cluster CA,
  // a certificate whose DNS subjectAltName is `host`, its key (mode 0600).
  // Each defaults to its --etcd-* counterpart.
  std::string peer_cacert;
  std::string peer_cert;
  std::string peer_key;
  int64_t lease_ttl_s = 10;
  uint64_t cluster_freeze_timeout_ms = 30000;
  double peer_deadline_s = 5.0;
  // The re-copy of a cluster change: how long a request waits for the
  // kernel's copy before it answers "not done yet".
  uint64_t recopy_inline_ms = 1500;
  bool help = false;
  std::string help_text;
};

// kInvalidArgument with a message naming the bad option or config line.
absl::StatusOr<DaemonConfig> ParseDaemonConfig(const std::vector<std::string>& args);

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_DAEMON_CONFIG_H_
