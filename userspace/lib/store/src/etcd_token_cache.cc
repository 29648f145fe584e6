#include "etcd_token_cache.h"

#include <utility>

#include "absl/time/clock.h"

namespace cvol::store {

absl::StatusOr<std::string> EtcdTokenCache::Get(Login login) {
  absl::MutexLock lock(&mu_);
  if (!token_.empty()) return token_;
  return LoginLocked(login);
}

absl::StatusOr<std::string> EtcdTokenCache::Renew(const std::string& refused, Login login) {
  absl::MutexLock lock(&mu_);
  if (!token_.empty() && token_ != refused) return token_;
  token_.clear();
  return LoginLocked(login);
}

void EtcdTokenCache::Drop(const std::string& refused) {
  absl::MutexLock lock(&mu_);
  if (token_ == refused) token_.clear();
}

std::string EtcdTokenCache::Current() const {
  absl::MutexLock lock(&mu_);
  return token_;
}

int64_t EtcdTokenCache::logins() const {
  absl::MutexLock lock(&mu_);
  return logins_;
}

absl::StatusOr<std::string> EtcdTokenCache::LoginLocked(Login login) {
  const absl::Duration since = absl::Now() - last_login_;
  if (since < min_interval_) {
    // A wrong password stays wrong for a while: no point in asking etcd.
    if (!last_error_.ok()) return last_error_;
    // The token of the last login was refused already (a restarted member,
    // a changed password): wait, so that no pattern of refusals can make
    // us log in more often than once per interval.
    absl::SleepFor(min_interval_ - since);
  }
  ++logins_;
  absl::StatusOr<std::string> token = login();
  // Only a refused login (a wrong user or password) is remembered and
  // held against the next one: etcd unreachable or slow says nothing about
  // the password, and the next request (a lease renewal) must try again.
  const bool refused = token.status().code() == absl::StatusCode::kUnauthenticated ||
                       token.status().code() == absl::StatusCode::kPermissionDenied;
  last_error_ = refused ? token.status() : absl::OkStatus();
  last_login_ = token.ok() || refused ? absl::Now() : absl::InfinitePast();
  if (token.ok()) token_ = *token;
  return token;
}

}  // namespace cvol::store
