// A real etcd for unit tests: one single-member etcd on free 127.0.0.1
// ports and a temporary data dir, stopped (and the dir removed) on
// destruction. Its absence is a failure, not a skip.
//
// Optionally secured as cvol deploys it (docs/security.md): TLS on the
// client URL with --client-cert-auth, certificates made by
// scripts/cvol-certs in the temporary dir; auth enabled by
// scripts/cvol-etcd-auth (user root, role cvol readwrite on /cvol/, users
// cvol-h1 and cvol-h2).
#ifndef CVOL_TESTS_UNIT_ETCD_TEST_PROCESS_H_
#define CVOL_TESTS_UNIT_ETCD_TEST_PROCESS_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cvol/store/etcd_kv_store.h"

namespace cvol::store::etcd_test {

// CVOL_TEST_ETCD overrides the binary: another etcd build, or a missing
// path to check that the tests then fail.
inline std::string EtcdBinary() {
  const char* env = std::getenv("CVOL_TEST_ETCD");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/etcd";
}

// A TCP socket bound to 127.0.0.1 on a port the kernel picked. Listening
// makes a "black hole" (connects succeed, nothing answers); closing it
// leaves a port that refuses connections.
class LocalSocket {
 public:
  LocalSocket() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~LocalSocket() { Close(); }
  void Listen() { listen(fd_, 16); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }
  int fd() const { return fd_; }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

inline std::string ReadFileTail(const std::string& path, size_t bytes) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

// Runs a shell command line; its output goes to log (shown on failure).
inline absl::Status RunCommand(const std::string& command, const std::string& log) {
  const int rc = std::system((command + " >" + log + " 2>&1").c_str());
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("`", command, "` failed (", rc, "): ", ReadFileTail(log, 2000)));
  }
  return absl::OkStatus();
}

struct EtcdProcessOptions {
  bool tls = false;          // https client URL, --client-cert-auth
  bool auth = false;         // RBAC users and auth enabled (needs tls)
  int auth_token_ttl_s = 0;  // --auth-token-ttl; 0: etcd's default (300 s)
};

inline std::string ClosedPortUrl() {
  LocalSocket s;
  return s.url();  // closed on return: connections are refused
}

class EtcdProcess {
 public:
  static absl::StatusOr<std::unique_ptr<EtcdProcess>> Start(EtcdProcessOptions options = {}) {
    const std::string binary = EtcdBinary();
    if (access(binary.c_str(), X_OK) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          binary, " not found: install package etcd-server (scripts/install-deps.sh)"));
    }
    char dir_template[] = "/tmp/cvol-etcd-test-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
    auto etcd = std::unique_ptr<EtcdProcess>(new EtcdProcess(dir_template, options));
    if (options.tls) {
      if (absl::Status s = etcd->MakeCertificates(); !s.ok()) return s;
    }
    if (absl::Status s = etcd->Spawn(binary); !s.ok()) return s;
    if (absl::Status s = etcd->WaitReady(absl::Seconds(20)); !s.ok()) return s;
    if (options.auth) {
      if (absl::Status s = etcd->EnableAuth(); !s.ok()) return s;
      etcd->auth_enabled_ = true;
    }
    return etcd;
  }

  ~EtcdProcess() {
    Stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const std::string& endpoint() const { return client_url_; }
  // The certificates and password files (with tls): ca.crt, cvol-h1.crt
  // and .key, cvol-h1.etcd-password, root.crt/.key (CN root), ...
  std::string certs() const { return dir_ + "/certs"; }

  // A store's options for host h1 or h2: TLS files and the user, as
  // enabled; plain http allowed on a plain etcd.
  EtcdKvStore::Options ClientOptions(const std::string& host = "h1") const {
    EtcdKvStore::Options o;
    o.timeout = absl::Seconds(2);
    if (!options_.tls) {
      o.allow_insecure = true;
      return o;
    }
    o.ca_file = certs() + "/ca.crt";
    o.cert_file = certs() + "/cvol-" + host + ".crt";
    o.key_file = certs() + "/cvol-" + host + ".key";
    if (auth_enabled_) {
      o.user = "cvol-" + host;
      o.password_file = certs() + "/cvol-" + host + ".etcd-password";
    }
    return o;
  }

  // etcdctl as root (the admin certificate, and the root password once
  // auth is on); args are shell words.
  absl::Status Etcdctl(const std::string& args) const {
    std::string command = absl::StrCat("etcdctl --endpoints ", client_url_);
    if (options_.tls) {
      absl::StrAppend(&command, " --cacert ", certs(), "/ca.crt --cert ", certs(),
                      "/root.crt --key ", certs(), "/root.key");
    }
    if (auth_enabled_) {
      command = absl::StrCat("ETCDCTL_USER=root ETCDCTL_PASSWORD=$(cat ", certs(),
                             "/root.etcd-password) ", command);
    }
    return RunCommand(absl::StrCat(command, " ", args), dir_ + "/etcdctl.log");
  }

  // Stops etcd and starts it again on the same ports and data: simple auth
  // tokens are lost (they live in the members' memory).
  absl::Status Restart() {
    Stop();
    if (absl::Status s = Spawn(EtcdBinary()); !s.ok()) return s;
    return WaitReady(absl::Seconds(20));
  }

 private:
  EtcdProcess(std::string dir, EtcdProcessOptions options)
      : dir_(std::move(dir)), options_(options) {}

  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      bool reaped = false;
      for (int i = 0; i < 50 && !reaped; ++i) {
        reaped = waitpid(pid_, &status, WNOHANG) == pid_;
        if (!reaped) absl::SleepFor(absl::Milliseconds(100));
      }
      if (!reaped) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
      pid_ = -1;
    }
  }

  absl::Status MakeCertificates() {
    const std::string script = std::string(CVOL_SCRIPTS_DIR) + "/cvol-certs ";
    const std::string d = certs(), other = certs() + "/other";
    for (const std::string& args : {"ca " + d, "etcd " + d + " cvoltest", "host " + d + " h1",
                                    "host " + d + " h2", "client " + d + " root",
                                    // A CA nobody trusts, with a host certificate of its own.
                                    "ca " + other, "host " + other + " h1"}) {
      if (absl::Status s = RunCommand(script + args, dir_ + "/certs.log"); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status EnableAuth() {
    return RunCommand(absl::StrCat(CVOL_SCRIPTS_DIR, "/cvol-etcd-auth --endpoints ", client_url_,
                                   " --cacert ", certs(), "/ca.crt --cert ", certs(),
                                   "/root.crt --key ", certs(), "/root.key --root-password-file ",
                                   certs(), "/root.etcd-password --out ", certs(), " h1 h2"),
                      dir_ + "/auth.log");
  }

  absl::Status Spawn(const std::string& binary) {
    if (client_url_.empty()) {
      LocalSocket client, peer;  // both held at once: two different ports
      if (client.port() == 0 || peer.port() == 0) return absl::InternalError("no free port");
      client_url_ = client.url();
      peer_url_ = peer.url();
      if (options_.tls) client_url_.replace(0, 4, "https");
    }
    const std::string& peer_url = peer_url_;
    std::vector<std::string> args = {
        binary,
        "--name=cvoltest",
        "--data-dir=" + dir_ + "/data",
        "--listen-client-urls=" + client_url_,
        "--advertise-client-urls=" + client_url_,
        "--listen-peer-urls=" + peer_url,
        "--initial-advertise-peer-urls=" + peer_url,
        "--initial-cluster=cvoltest=" + peer_url,
        "--initial-cluster-state=new",
        // A quicker first election; the minimum lease TTL stays 1-2 s.
        "--heartbeat-interval=100",
        "--election-timeout=1000",
    };
    if (options_.tls) {
      for (const std::string& a :
           {"--cert-file=" + certs() + "/etcd-cvoltest.crt",
            "--key-file=" + certs() + "/etcd-cvoltest.key",
            "--trusted-ca-file=" + certs() + "/ca.crt", std::string("--client-cert-auth")}) {
        args.push_back(a);
      }
    }
    if (options_.auth_token_ttl_s > 0) {
      args.push_back(absl::StrCat("--auth-token-ttl=", options_.auth_token_ttl_s));
    }
    log_ = dir_ + "/etcd.log";
    const int log_flags = O_WRONLY | O_CREAT | O_APPEND;  // a restart appends
    pid_ = fork();
    if (pid_ < 0) return absl::InternalError("fork failed");
    if (pid_ == 0) {
      // The child: die with the test process, log to a file.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = open(log_.c_str(), log_flags, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    return absl::OkStatus();
  }

  absl::Status WaitReady(absl::Duration limit) {
    const absl::Time deadline = absl::Now() + limit;
    absl::Status last = absl::DeadlineExceededError("not tried");
    EtcdKvStore::Options options = ClientOptions();
    options.timeout = absl::Seconds(1);
    while (absl::Now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::InternalError(absl::StrCat("etcd exited (status ", status,
                                                "); log tail:\n", ReadFileTail(log_, 2000)));
      }
      // A linearizable read needs a leader: then transactions work too.
      absl::StatusOr<std::unique_ptr<EtcdKvStore>> store =
          EtcdKvStore::Connect(client_url_, options);
      if (store.ok()) {
        last = (*store)->Get("/cvol/ready").status();
        if (last.ok()) return absl::OkStatus();
      } else {
        last = store.status();
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return absl::DeadlineExceededError(absl::StrCat("etcd not ready after ", absl::FormatDuration(limit),
                                                    ": ", last.ToString(), "; log tail:\n",
                                                    ReadFileTail(log_, 2000)));
  }

  std::string dir_;
  const EtcdProcessOptions options_;
  bool auth_enabled_ = false;
  std::string log_;
  std::string client_url_;
  std::string peer_url_;
  pid_t pid_ = -1;
};

}  // namespace cvol::store::etcd_test

#endif  // CVOL_TESTS_UNIT_ETCD_TEST_PROCESS_H_
