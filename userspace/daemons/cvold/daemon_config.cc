#include "daemon_config.h"

#include <exception>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "boost/program_options.hpp"

namespace cvol::daemon {

namespace po = boost::program_options;

namespace {

// The message of a program_options error, with every '%' of the values
// it quotes written "%25". Boost (1.74) builds what() by replacing
// placeholders such as %value% until none is left, so a config line
// whose bad value contains one ("lease-ttl-s = 1%value%") would make
// what() loop forever, growing the string.
class EscapedOptionError : public po::error_with_option_name {
 public:
  explicit EscapedOptionError(const po::error_with_option_name& e)
      : po::error_with_option_name(e) {
    for (auto& [placeholder, value] : m_substitutions) {
      (void)placeholder;
      value = absl::StrReplaceAll(value, {{"%", "%25"}});
    }
  }
};

}  // namespace

absl::StatusOr<DaemonConfig> ParseDaemonConfig(const std::vector<std::string>& args) {
  DaemonConfig c;
  po::options_description options("cvold options (also settable in the config file as name = value)");
  options.add_options()
      ("help,h", "print this help and exit")
      ("config", po::value(&c.config_file)->default_value(c.config_file),
       "config file; a missing default file is fine, a missing named one is an error")
      ("etcd-endpoints", po::value(&c.etcd_endpoints)->default_value(c.etcd_endpoints),
       "etcd client URLs, comma-separated")
      ("etcd-prefix", po::value(&c.etcd_prefix)->default_value(c.etcd_prefix),
       "key prefix of this cluster's records in etcd")
      ("etcd-timeout", po::value(&c.etcd_timeout_s)->default_value(c.etcd_timeout_s),
       "seconds before an etcd request is given up")
      ("socket", po::value(&c.socket)->default_value(c.socket), "control socket path")
      ("sys-block-dir", po::value(&c.sys_block_dir)->default_value(c.sys_block_dir),
       "where block devices are listed (pv scan)")
      ("dev-dir", po::value(&c.dev_dir)->default_value(c.dev_dir), "device node directory")
      ("host", po::value(&c.host), "cluster mode: this host's member name (unique in the cluster)")
      ("instance", po::value(&c.instance),
       "several daemons on one kernel (test harness): suffixes device names and kernel uuids")
      ("peer-listen", po::value(&c.peer_listen),
       "cluster mode: host:port of the peer protocol; peers reach this host there")
      ("peer-address", po::value(&c.peer_address),
       "cluster mode: host:port peers dial (default: --peer-listen; required if that is a "
       "wildcard address)")
      ("cluster-secret-file", po::value(&c.cluster_secret_file),
       "cluster mode: the cluster's shared secret (mode 0600), authenticates peer frames")
      ("peer-cacert", po::value(&c.peer_cacert),
       "cluster mode: the cluster CA (PEM); only certificates it signed are peers")
      ("peer-cert", po::value(&c.peer_cert),
       "cluster mode: this host's certificate (PEM), whose DNS subjectAltName is --host")
      ("peer-key", po::value(&c.peer_key), "cluster mode: its private key (PEM, mode 0600)")
      ("lease-ttl-s", po::value(&c.lease_ttl_s)->default_value(c.lease_ttl_s),
       "cluster mode: membership lease (TTL) in seconds, renewed 6 times per TTL; each "
       "renewal sets the kernel lease of every volume to 3/4 of the TTL minus the time the "
       "renewal took (not passed on if that leaves less than 1/4)")
      ("cluster-freeze-timeout-ms",
       po::value(&c.cluster_freeze_timeout_ms)->default_value(c.cluster_freeze_timeout_ms),
       "cluster mode: a cluster freeze thaws itself after this")
      ("peer-deadline-s", po::value(&c.peer_deadline_s)->default_value(c.peer_deadline_s),
       "cluster mode: seconds a peer has to answer a controller request")
      ("recopy-inline-ms", po::value(&c.recopy_inline_ms)->default_value(c.recopy_inline_ms),
       "cluster mode: how long a re-copy request waits for the kernel's copy before it "
       "answers and the controller polls (below the peer deadline)");
  AddEtcdClientOptions(options, &c.etcd_security);
  try {
    std::vector<const char*> argv{"cvold"};
    for (const std::string& a : args) argv.push_back(a.c_str());
    po::variables_map vm;
    po::store(po::command_line_parser(static_cast<int>(argv.size()),
                                      const_cast<char**>(argv.data()))
                  .options(options)
                  .positional(po::positional_options_description())  // none: stray words are errors
                  .run(),
              vm);
    if (vm.count("help")) {
      std::ostringstream out;
      out << "usage: cvold [options]\n\nThe cvol daemon: owns this host's cvol volumes, keeps "
             "their configuration in etcd,\nand serves clusterctl on a Unix socket. Runs in the "
             "foreground (systemd).\n\n"
          << options;
      c.help = true;
      c.help_text = out.str();
      return c;
    }
    const bool named = !vm["config"].defaulted();
    const std::string file = vm["config"].as<std::string>();
    std::ifstream in(file);
    if (in) {
      po::store(po::parse_config_file(in, options), vm);
    } else if (named) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read config file ", file));
    }
    po::notify(vm);
  } catch (const po::error_with_option_name& e) {
    return absl::InvalidArgumentError(EscapedOptionError(e).what());
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
  if (c.etcd_prefix.empty() || c.etcd_prefix.back() != '/') {
    return absl::InvalidArgumentError("--etcd-prefix must end with '/'");
  }
  if (!(c.etcd_timeout_s > 0)) return absl::InvalidArgumentError("--etcd-timeout must be > 0");
  if (!c.instance.empty() &&
      (c.instance.size() > 16 ||
       c.instance.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
           std::string::npos)) {
    return absl::InvalidArgumentError("--instance must be 1-16 letters, digits or '_'");
  }
  if (!c.host.empty()) {
    if (c.host.find('/') != std::string::npos || c.host.size() > 64) {
      return absl::InvalidArgumentError("--host must be at most 64 characters, without '/'");
    }
    if (c.peer_listen.empty() || c.cluster_secret_file.empty()) {
      return absl::InvalidArgumentError(
          "cluster mode (--host) needs --peer-listen and --cluster-secret-file");
    }
    if (c.peer_address.empty()) {
      if (absl::StartsWith(c.peer_listen, "0.0.0.0:") || absl::StartsWith(c.peer_listen, "[::]:")) {
        return absl::InvalidArgumentError(
            "--peer-listen is a wildcard address: give the address peers dial with --peer-address");
      }
      c.peer_address = c.peer_listen;
    }
    if (c.lease_ttl_s < 2) return absl::InvalidArgumentError("--lease-ttl-s must be >= 2");
    if (c.cluster_freeze_timeout_ms < static_cast<uint64_t>(c.lease_ttl_s) * 2000) {
      return absl::InvalidArgumentError(
          "--cluster-freeze-timeout-ms must be at least twice the lease TTL, so that a host "
          "that stops answering is fenced before its freeze thaws");
    }
    if (!(c.peer_deadline_s > 0)) return absl::InvalidArgumentError("--peer-deadline-s must be > 0");
    if (static_cast<double>(c.recopy_inline_ms) >= c.peer_deadline_s * 1000) {
      return absl::InvalidArgumentError(
          "--recopy-inline-ms must be below the peer deadline (--peer-deadline-s), or every "
          "long re-copy request misses it");
    }
    // One certificate per host serves both: the etcd client and the peer
    // links (docs/security.md).
    if (c.peer_cacert.empty()) c.peer_cacert = c.etcd_security.cacert;
    if (c.peer_cert.empty()) c.peer_cert = c.etcd_security.cert;
    if (c.peer_key.empty()) c.peer_key = c.etcd_security.key;
    if (c.peer_cacert.empty() || c.peer_cert.empty() || c.peer_key.empty()) {
      return absl::InvalidArgumentError(
          "cluster mode (--host) needs --peer-cacert, --peer-cert and --peer-key (by default "
          "--etcd-cacert, --etcd-cert and --etcd-key): the cluster CA and this host's "
          "certificate and key (scripts/cvol-certs makes them)");
    }
  } else if (!c.peer_listen.empty() || !c.cluster_secret_file.empty() || !c.peer_cacert.empty() ||
             !c.peer_cert.empty() || !c.peer_key.empty()) {
    return absl::InvalidArgumentError(
        "--peer-listen, --cluster-secret-file and --peer-cacert/--peer-cert/--peer-key need "
        "--host");
  }
  if (absl::Status s = FinishEtcdClientSettings(c.etcd_endpoints, c.host, &c.etcd_security);
      !s.ok()) {
    return s;
  }
  return c;
}

}  // namespace cvol::daemon
