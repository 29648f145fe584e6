// The etcd auth token of one EtcdKvStore: obtained by a login (POST
// /v3/auth/authenticate), kept until etcd refuses it, shared by the
// store's connections.
//
// A login is expensive for etcd (bcrypt of the password, then a raft
// round), so: one token is cached and used until refused; a refusal seen
// by several callers at once leads to one login (a caller whose refused
// token was already replaced gets the new one); logins are at least
// min_interval apart (a caller that needs one sooner waits for the rest of
// the interval), and a failed login is reported again, without asking
// etcd, to callers that come within that interval.
#ifndef CVOL_STORE_ETCD_TOKEN_CACHE_H_
#define CVOL_STORE_ETCD_TOKEN_CACHE_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace cvol::store {

class EtcdTokenCache {
 public:
  // Logs in: the new token, or why not.
  using Login = absl::FunctionRef<absl::StatusOr<std::string>()>;

  explicit EtcdTokenCache(absl::Duration min_interval) : min_interval_(min_interval) {}

  // The cached token; logs in first if there is none.
  absl::StatusOr<std::string> Get(Login login) ABSL_LOCKS_EXCLUDED(mu_);
  // etcd refused `refused`: the current token if it is another one (someone
  // logged in meanwhile), else the token of a new login.
  absl::StatusOr<std::string> Renew(const std::string& refused, Login login)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets `refused` if it is still the current token: the next Get logs
  // in. For a doubt that does not justify a login at once.
  void Drop(const std::string& refused) ABSL_LOCKS_EXCLUDED(mu_);

  // The cached token ("" if none), without logging in.
  std::string Current() const ABSL_LOCKS_EXCLUDED(mu_);
  // Logins tried so far (successful or not).
  int64_t logins() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::StatusOr<std::string> LoginLocked(Login login) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration min_interval_;
  // Held during a login, so that concurrent callers wait for its token.
  mutable absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time last_login_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  int64_t logins_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cvol::store

#endif  // CVOL_STORE_ETCD_TOKEN_CACHE_H_
