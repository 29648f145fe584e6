// EtcdKvStore against a real etcd secured as cvol deploys it: TLS with
// client certificates (--client-cert-auth) and RBAC (users cvol-h1 and
// cvol-h2 with readwrite on /cvol/ only), certificates and users made by
// scripts/cvol-certs and scripts/cvol-etcd-auth. Also the option rules,
// and the re-authentication rule for writes against a fake etcd that
// closes connections without an answer.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cvol/store/etcd_kv_store.h"
#include "etcd_test_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cvol::store {
namespace {

using etcd_test::EtcdProcess;
using etcd_test::EtcdProcessOptions;
using etcd_test::LocalSocket;
using ::testing::HasSubstr;
using ::testing::Not;

// One TLS + auth etcd for the tests of this file that do not restart it.
EtcdProcess& SecureEtcd() {
  static EtcdProcess* etcd = [] {
    absl::StatusOr<std::unique_ptr<EtcdProcess>> p =
        EtcdProcess::Start({.tls = true, .auth = true});
    if (!p.ok()) {
      ADD_FAILURE() << "cannot start a TLS etcd: " << p.status();
      std::abort();
    }
    return p->release();  // lives until the process exits (PDEATHSIG stops etcd)
  }();
  return *etcd;
}

std::unique_ptr<EtcdKvStore> MustConnect(const EtcdProcess& etcd, const EtcdKvStore::Options& o) {
  absl::StatusOr<std::unique_ptr<EtcdKvStore>> store = EtcdKvStore::Connect(etcd.endpoint(), o);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// Every token of user cvol-h1 dies: etcd drops a user's tokens when its
// password is set, here to the same one.
void InvalidateTokens(const EtcdProcess& etcd) {
  ASSERT_TRUE(etcd.Etcdctl(absl::StrCat("user passwd cvol-h1 --interactive=false <", etcd.certs(),
                                        "/cvol-h1.etcd-password"))
                  .ok());
}

std::string WriteFile(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  chmod(path.c_str(), mode);
  return path;
}

TEST(EtcdSecurityTest, KvLeaseWatchAndProbeWorkOverTlsWithAToken) {
  EtcdProcess& etcd = SecureEtcd();
  EXPECT_TRUE(absl::StartsWith(etcd.endpoint(), "https://"));
  std::unique_ptr<EtcdKvStore> store = MustConnect(etcd, etcd.ClientOptions());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<TxnResult> put =
      store->Txn({Compare::Absent("/cvol/t/a")}, {Op::Put("/cvol/t/a", "1")});
  ASSERT_TRUE(put.ok()) << put.status();
  absl::StatusOr<std::optional<KeyValue>> got = store->Get("/cvol/t/a");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->value, "1");
  absl::StatusOr<RangeResult> range = store->Range("/cvol/t/");
  ASSERT_TRUE(range.ok()) << range.status();
  absl::StatusOr<int64_t> lease = store->LeaseGrant(5);
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_TRUE(store->LeaseKeepAlive(*lease).ok());
  EXPECT_TRUE(store->LeaseRevoke(*lease).ok());
  absl::StatusOr<WatchResult> wait =
      store->WaitForChange("/cvol/t/", range->revision, absl::Milliseconds(200));
  ASSERT_TRUE(wait.ok()) << wait.status();
  EXPECT_EQ(wait->outcome, WatchResult::Outcome::kTimedOut);
  absl::StatusOr<QuorumReport> quorum = store->ProbeQuorum();
  ASSERT_TRUE(quorum.ok()) << quorum.status();
  EXPECT_EQ(quorum->answered, 1u);
  EXPECT_EQ(quorum->leaderless, 0u);
  EXPECT_EQ(store->logins(), 1);  // one login for all of it
}

TEST(EtcdSecurityTest, RoleCoversOnlyThePrefix) {
  EtcdProcess& etcd = SecureEtcd();
  std::unique_ptr<EtcdKvStore> store = MustConnect(etcd, etcd.ClientOptions());
  ASSERT_NE(store, nullptr);
  absl::Status get = store->Get("/other").status();
  EXPECT_EQ(get.code(), absl::StatusCode::kPermissionDenied) << get;
  EXPECT_THAT(std::string(get.message()), HasSubstr("cvol-h1"));
  EXPECT_EQ(store->Txn({}, {Op::Put("/other", "x")}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store->Range("/").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store->WaitForChange("/other/", 1, absl::Seconds(2)).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store->logins(), 1);  // a denial is not a reason to log in again
}

TEST(EtcdSecurityTest, ClientWithoutCertificateIsRefused) {
  EtcdProcess& etcd = SecureEtcd();
  EtcdKvStore::Options o = etcd.ClientOptions();
  o.cert_file.clear();
  o.key_file.clear();
  absl::Status s = EtcdKvStore::Connect(etcd.endpoint(), o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(etcd.endpoint()));
}

TEST(EtcdSecurityTest, CertificateOfAnotherCaIsRefused) {
  EtcdProcess& etcd = SecureEtcd();
  EtcdKvStore::Options o = etcd.ClientOptions();
  o.cert_file = etcd.certs() + "/other/cvol-h1.crt";
  o.key_file = etcd.certs() + "/other/cvol-h1.key";
  absl::Status s = EtcdKvStore::Connect(etcd.endpoint(), o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("TLS"));
}

TEST(EtcdSecurityTest, ServerOfAnotherCaIsRefused) {
  EtcdProcess& etcd = SecureEtcd();
  EtcdKvStore::Options o = etcd.ClientOptions();
  o.ca_file = etcd.certs() + "/other/ca.crt";
  absl::Status s = EtcdKvStore::Connect(etcd.endpoint(), o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("TLS"));
}

TEST(EtcdSecurityTest, WrongPasswordIsUnauthenticatedNamingUserAndEndpoint) {
  EtcdProcess& etcd = SecureEtcd();
  EtcdKvStore::Options o = etcd.ClientOptions();
  o.password_file = WriteFile(etcd.certs() + "/wrong-password", "not-the-password\n", 0600);
  absl::Status s = EtcdKvStore::Connect(etcd.endpoint(), o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("\"cvol-h1\""));
  EXPECT_THAT(std::string(s.message()), HasSubstr(etcd.endpoint()));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("not-the-password")));

  // Without require_reachable: calls fail the same way, and do not make
  // etcd hash a password for each (one login per interval).
  o.require_reachable = false;
  std::unique_ptr<EtcdKvStore> store = MustConnect(etcd, o);
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(store->Get("/cvol/x").status().code(), absl::StatusCode::kUnauthenticated);
  }
  EXPECT_EQ(store->logins(), 1);

  o.require_reachable = true;
  o.user = "cvol-nobody";
  EXPECT_EQ(EtcdKvStore::Connect(etcd.endpoint(), o).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(EtcdSecurityTest, PlainHttpToTheTlsPortSaysWhy) {
  EtcdProcess& etcd = SecureEtcd();
  EtcdKvStore::Options o;
  o.allow_insecure = true;
  const std::string http = "http://" + etcd.endpoint().substr(std::string("https://").size());
  absl::Status s = EtcdKvStore::Connect(http, o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("an https endpoint?"));
}

TEST(EtcdSecurityTest, OptionsThatDoNotFitAreRefused) {
  EtcdProcess& etcd = SecureEtcd();
  const EtcdKvStore::Options good = etcd.ClientOptions();
  auto code = [](absl::string_view endpoints, const EtcdKvStore::Options& o) {
    return EtcdKvStore::Connect(endpoints, o).status().code();
  };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;

  absl::Status plain = EtcdKvStore::Connect("http://127.0.0.1:1", EtcdKvStore::Options()).status();
  EXPECT_EQ(plain.code(), kInvalid);
  EXPECT_THAT(std::string(plain.message()), HasSubstr("--etcd-insecure"));
  EXPECT_THAT(std::string(plain.message()), HasSubstr("https://"));
  EXPECT_EQ(code("https://127.0.0.1:1,http://127.0.0.1:2", good), kInvalid);  // mixed
  EtcdKvStore::Options o = good;
  o.ca_file.clear();
  EXPECT_EQ(code(etcd.endpoint(), o), kInvalid);  // https without a CA
  o = good;
  o.allow_insecure = true;
  EXPECT_EQ(code("http://127.0.0.1:1", o), kInvalid);  // TLS files with http
  o = good;
  o.key_file.clear();
  EXPECT_EQ(code(etcd.endpoint(), o), kInvalid);  // a certificate without its key
  o = good;
  o.password_file.clear();
  EXPECT_EQ(code(etcd.endpoint(), o), kInvalid);  // a user without a password
  o = good;
  o.ca_file = etcd.certs() + "/absent.crt";
  EXPECT_EQ(code(etcd.endpoint(), o), absl::StatusCode::kNotFound);

  // The key and the password are secrets: root's (or ours), mode 0600.
  const std::string key = etcd.certs() + "/cvol-h1.key";
  ASSERT_EQ(chmod(key.c_str(), 0644), 0);
  o = good;
  absl::Status loose = EtcdKvStore::Connect(etcd.endpoint(), o).status();
  ASSERT_EQ(chmod(key.c_str(), 0600), 0);
  EXPECT_EQ(loose.code(), absl::StatusCode::kFailedPrecondition) << loose;
  EXPECT_THAT(std::string(loose.message()), HasSubstr("chmod 600 " + key));
  o.password_file = WriteFile(etcd.certs() + "/loose-password", "x", 0640);
  EXPECT_EQ(code(etcd.endpoint(), o), absl::StatusCode::kFailedPrecondition);
}

// etcd refuses the token (here: the user's password was set, which drops
// its tokens): each kind of call logs in again and goes through, a
// write included, and is applied exactly once.
TEST(EtcdSecurityTest, RefusedTokenIsRenewedForReadsWritesKeepalivesAndWatches) {
  EtcdProcess& etcd = SecureEtcd();
  EtcdKvStore::Options o = etcd.ClientOptions();
  o.min_login_interval = absl::Milliseconds(50);  // this test is about renewal, not rate
  std::unique_ptr<EtcdKvStore> store = MustConnect(etcd, o);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<int64_t> lease = store->LeaseGrant(10);
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(store->Txn({}, {Op::DeletePrefix("/cvol/renew/")}).ok());
  int64_t logins = store->logins();

  InvalidateTokens(etcd);
  ASSERT_TRUE(store->Get("/cvol/renew/a").ok());
  EXPECT_EQ(store->logins(), ++logins);

  InvalidateTokens(etcd);
  // Create-if-absent: had it been applied twice, it would report a failed
  // compare.
  absl::StatusOr<TxnResult> txn =
      store->Txn({Compare::Absent("/cvol/renew/a")}, {Op::Put("/cvol/renew/a", "1")});
  ASSERT_TRUE(txn.ok()) << txn.status();
  EXPECT_TRUE(txn->succeeded);
  EXPECT_EQ(store->logins(), ++logins);
  absl::StatusOr<std::optional<KeyValue>> a = store->Get("/cvol/renew/a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->version, 1);

  // Keepalives have no auth check before etcd 3.4.42 (docs/security.md):
  // this one may go through with the dead token. Either way it works.
  InvalidateTokens(etcd);
  EXPECT_TRUE(store->LeaseKeepAlive(*lease).ok());
  logins = store->logins();

  InvalidateTokens(etcd);
  absl::StatusOr<WatchResult> wait =
      store->WaitForChange("/cvol/renew/", txn->revision, absl::Milliseconds(300));
  ASSERT_TRUE(wait.ok()) << wait.status();
  EXPECT_EQ(wait->outcome, WatchResult::Outcome::kTimedOut);
  EXPECT_EQ(store->logins(), ++logins);
}

// A refusal seen on the store's two connections at once (a request and a
// blocked watch) leads to one login, and the watch still sees the change.
TEST(EtcdSecurityTest, ConcurrentRefusalsLogInOnce) {
  EtcdProcess& etcd = SecureEtcd();
  std::unique_ptr<EtcdKvStore> store = MustConnect(etcd, etcd.ClientOptions());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<RangeResult> now = store->Range("/cvol/both/");
  ASSERT_TRUE(now.ok()) << now.status();
  absl::SleepFor(absl::Seconds(1));  // past the login interval of Connect's login
  const int64_t logins = store->logins();
  InvalidateTokens(etcd);
  absl::StatusOr<WatchResult> waited = absl::UnknownError("not run");
  std::thread waiter(
      [&] { waited = store->WaitForChange("/cvol/both/", now->revision, absl::Seconds(10)); });
  absl::StatusOr<TxnResult> put = store->Txn({}, {Op::Put("/cvol/both/k", "v")});
  waiter.join();
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_EQ(waited->outcome, WatchResult::Outcome::kChanged);
  EXPECT_EQ(store->logins(), logins + 1);
}

// Logins are at least min_login_interval apart, however quickly tokens die.
TEST(EtcdSecurityTest, LoginsAreRateLimited) {
  EtcdProcess& etcd = SecureEtcd();
  std::unique_ptr<EtcdKvStore> store = MustConnect(etcd, etcd.ClientOptions());
  ASSERT_NE(store, nullptr);
  const absl::Time start = absl::Now();  // Connect logged in just before
  for (int i = 0; i < 2; ++i) {
    InvalidateTokens(etcd);
    ASSERT_TRUE(store->Get("/cvol/rate").ok());
  }
  EXPECT_EQ(store->logins(), 3);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(1900));
}

// The password file is read at each login: a new password needs no
// restart (write the file, then set the password in etcd).
TEST(EtcdSecurityTest, NewPasswordIsReadFromTheFileAtTheNextLogin) {
  EtcdProcess& etcd = SecureEtcd();
  EtcdKvStore::Options o = etcd.ClientOptions("h2");
  std::unique_ptr<EtcdKvStore> store = MustConnect(etcd, o);
  ASSERT_NE(store, nullptr);
  WriteFile(o.password_file, "a-new-password\n", 0600);
  ASSERT_TRUE(
      etcd.Etcdctl(absl::StrCat("user passwd cvol-h2 --interactive=false <", o.password_file))
          .ok());
  absl::StatusOr<std::optional<KeyValue>> got = store->Get("/cvol/rotated");
  EXPECT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(store->logins(), 2);
}

// Simple tokens expire unused after --auth-token-ttl and are lost when
// etcd restarts: both are transparent.
TEST(EtcdSecurityTest, ExpiredOrLostTokensAreTransparent) {
  absl::StatusOr<std::unique_ptr<EtcdProcess>> etcd =
      EtcdProcess::Start({.tls = true, .auth = true, .auth_token_ttl_s = 1});
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  EtcdKvStore::Options o = (*etcd)->ClientOptions();
  std::unique_ptr<EtcdKvStore> store = MustConnect(**etcd, o);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<int64_t> lease = store->LeaseGrant(30);
  ASSERT_TRUE(lease.ok()) << lease.status();
  const int64_t logins = store->logins();

  absl::SleepFor(absl::Milliseconds(2500));  // the token's TTL runs out
  absl::StatusOr<TxnResult> put = store->Txn({}, {Op::Put("/cvol/ttl", "1", *lease)});
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(store->logins(), logins + 1);

  ASSERT_TRUE((*etcd)->Restart().ok());
  // The restarted member lost every token; the first call sees that.
  EXPECT_TRUE(store->LeaseKeepAlive(*lease).ok());
  absl::StatusOr<WatchResult> wait =
      store->WaitForChange("/cvol/", put->revision, absl::Milliseconds(300));
  ASSERT_TRUE(wait.ok()) << wait.status();
  absl::StatusOr<std::optional<KeyValue>> got = store->Get("/cvol/ttl");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->has_value());
  EXPECT_GE(store->logins(), logins + 2);
}

// A fake etcd over plain http: answers logins with a token, and closes
// every other connection without an answer (an empty reply, as some etcd
// 3.4 releases give for a dead token). Counts what it was sent.
class SilentCloser {
 public:
  SilentCloser() {
    socket_.Listen();
    thread_ = std::thread([this] { Serve(); });
  }
  ~SilentCloser() {
    stop_ = true;
    // Wake accept() with a connection of our own.
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(socket_.port()));
    connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    close(fd);
    thread_.join();
  }
  std::string url() const { return socket_.url(); }
  int count(const std::string& path) {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(std::count(paths_.begin(), paths_.end(), path));
  }

 private:
  void Serve() {
    while (!stop_) {
      const int fd = accept(socket_.fd(), nullptr, nullptr);
      if (fd < 0) continue;
      std::string request;
      char buffer[4096];
      size_t header_end = std::string::npos;
      size_t length = 0;
      while (true) {
        if (header_end == std::string::npos) {
          header_end = request.find("\r\n\r\n");
          if (header_end != std::string::npos) {
            const size_t cl = request.find("Content-Length: ");
            if (cl != std::string::npos && cl < header_end) {
              (void)absl::SimpleAtoi(request.substr(cl + 16, request.find("\r\n", cl) - cl - 16),
                                     &length);
            }
          }
        }
        if (header_end != std::string::npos && request.size() >= header_end + 4 + length) break;
        const ssize_t n = read(fd, buffer, sizeof(buffer));
        if (n <= 0) break;
        request.append(buffer, static_cast<size_t>(n));
      }
      const size_t sp = request.find(' ');
      const std::string path =
          sp == std::string::npos ? "" : request.substr(sp + 1, request.find(' ', sp + 1) - sp - 1);
      if (!path.empty()) {
        absl::MutexLock lock(&mu_);
        paths_.push_back(path);
      }
      if (path == "/v3/auth/authenticate") {
        const std::string body = R"({"token":"fake.1"})";
        const std::string answer = absl::StrCat(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
            "\r\nConnection: close\r\n\r\n", body);
        (void)!write(fd, answer.data(), answer.size());
      }
      close(fd);
    }
  }

  LocalSocket socket_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<std::string> paths_ ABSL_GUARDED_BY(mu_);
};

// The rule of the header: an empty reply is resent once (after a new
// login) for a read, never for a write, whose outcome is then unknown.
TEST(EtcdSecurityTest, EmptyReplyRetriesReadsOnceAndNeverWrites) {
  SilentCloser fake;
  const std::string dir = ::testing::TempDir();
  EtcdKvStore::Options o;
  o.allow_insecure = true;
  o.require_reachable = false;
  o.user = "cvol-h1";
  o.password_file = WriteFile(dir + "/fake-password", "pw\n", 0600);
  o.min_login_interval = absl::Milliseconds(10);
  absl::StatusOr<std::unique_ptr<EtcdKvStore>> store = EtcdKvStore::Connect(fake.url(), o);
  ASSERT_TRUE(store.ok()) << store.status();

  absl::Status txn = (*store)->Txn({}, {Op::Put("/cvol/k", "v")}).status();
  EXPECT_EQ(txn.code(), absl::StatusCode::kUnavailable) << txn;
  EXPECT_THAT(std::string(txn.message()), HasSubstr("outcome is unknown"));
  EXPECT_EQ(fake.count("/v3/kv/txn"), 1);  // not resent
  EXPECT_EQ((*store)->logins(), 1);

  // The doubtful token was dropped: the read logs in first, then once more
  // after its own empty reply, and is sent twice in all.
  EXPECT_EQ((*store)->Get("/cvol/k").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(fake.count("/v3/kv/range"), 2);
  EXPECT_EQ((*store)->logins(), 3);
  EXPECT_EQ(fake.count("/v3/auth/authenticate"), 3);
}

}  // namespace
}  // namespace cvol::store
