// A real etcd for unit tests: one single-member etcd on free 127.0.0.1
// ports and a temporary data dir, stopped (and the dir removed) on
// destruction. Its absence is a failure, not a skip.
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
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

inline std::string ClosedPortUrl() {
  LocalSocket s;
  return s.url();  // closed on return: connections are refused
}

inline std::string ReadFileTail(const std::string& path, size_t bytes) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

class EtcdProcess {
 public:
  static absl::StatusOr<std::unique_ptr<EtcdProcess>> Start() {
    const std::string binary = EtcdBinary();
    if (access(binary.c_str(), X_OK) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          binary, " not found: install package etcd-server (scripts/install-deps.sh)"));
    }
    char dir_template[] = "/tmp/cvol-etcd-test-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
    auto etcd = std::unique_ptr<EtcdProcess>(new EtcdProcess(dir_template));
    if (absl::Status s = etcd->Spawn(binary); !s.ok()) return s;
    if (absl::Status s = etcd->WaitReady(absl::Seconds(20)); !s.ok()) return s;
    return etcd;
  }

  ~EtcdProcess() {
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
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const std::string& endpoint() const { return client_url_; }

 private:
  explicit EtcdProcess(std::string dir) : dir_(std::move(dir)) {}

  absl::Status Spawn(const std::string& binary) {
    LocalSocket client, peer;  // both held at once: two different ports
    if (client.port() == 0 || peer.port() == 0) return absl::InternalError("no free port");
    client_url_ = client.url();
    const std::string peer_url = peer.url();
    client.Close();
    peer.Close();
    const std::vector<std::string> args = {
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
    log_ = dir_ + "/etcd.log";
    pid_ = fork();
    if (pid_ < 0) return absl::InternalError("fork failed");
    if (pid_ == 0) {
      // The child: die with the test process, log to a file.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
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
    EtcdKvStore::Options options;
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
        last = (*store)->Get("/ready").status();
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
  std::string log_;
  std::string client_url_;
  pid_t pid_ = -1;
};

}  // namespace cvol::store::etcd_test

#endif  // CVOL_TESTS_UNIT_ETCD_TEST_PROCESS_H_
