// Cluster membership over the configuration database (DESIGN §4, issue 6).
//
// Every cvold joins under an etcd lease. Join writes, in one guarded
// transaction, two keys attached to that lease:
//   <prefix>members/<host>   JSON {"host", "addresses", "joined_ns"}
//   <prefix>election/<host>  the campaign key (value: the host name)
// so both vanish together when the lease expires or is revoked. A host name
// held by a live member is refused.
//
// The ranking is etcd's election recipe: campaign keys ordered by their
// create_revision. The first is the Primary (it runs the configuration-change
// controller), the second the Secondary (it takes over), the rest Alternates.
// The epoch is the Primary's campaign key create_revision: it changes, and
// strictly increases, whenever the Primary changes (a successor's campaign key
// was created after its predecessor's; a rejoining host campaigns anew, last).
// Every controller request carries the epoch it was issued under; a host
// refuses a request whose epoch is not the current one (CheckEpoch), which is
// how a deposed controller is fenced. A controller request must also come
// from the host that holds that campaign key (CheckController; the sender is
// the peer link's authenticated identity), so that no other member can act
// in the Primary's name.
#ifndef CVOL_CLUSTER_MEMBERSHIP_H_
#define CVOL_CLUSTER_MEMBERSHIP_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cvol/store/kv_store.h"

namespace cvol::cluster {

enum class Role { kPrimary, kSecondary, kAlternate };

// "primary", "secondary", "alternate".
const char* RoleName(Role role);

// What a host says about itself when it joins.
struct MemberInfo {
  std::string host;                    // unique in the cluster; no '/'
  std::vector<std::string> addresses;  // where peers reach its daemon
};

struct Member {
  std::string host;
  std::vector<std::string> addresses;
  int64_t joined_ns = 0;          // wall clock at Join (Unix ns)
  Role role = Role::kAlternate;
  int64_t campaign_revision = 0;  // create_revision of its campaign key; 0: none
  int64_t lease = 0;
};

// The Primary as one range of the election keys sees it.
struct Leader {
  int64_t epoch = 0;  // its campaign key's create_revision; 0: no Primary
  std::string host;   // empty when epoch is 0
};

struct ClusterView {
  int64_t revision = 0;          // the store's revision the ranking was read at
  int64_t epoch = 0;             // the Primary's campaign revision; 0 if none
  std::vector<Member> members;   // in rank order: Primary, Secondary, Alternates

  // The Primary, or nullptr when no member campaigns.
  const Member* primary() const {
    return members.empty() || members.front().campaign_revision == 0 ? nullptr : &members.front();
  }
  // The member named host, or nullptr.
  const Member* Find(const std::string& host) const;
};

// One host's membership. Not thread-safe: one owner calls KeepAlive (well
// within the TTL) and Leave. Destroying it does not leave: the lease then
// expires by itself, as when the daemon dies.
class Membership {
 public:
  // Grants a lease of ttl_seconds and registers self under it. prefix is the
  // cluster's key prefix, e.g. "/cvol/". kAlreadyExists if a live member
  // holds self.host (the lease just granted is revoked again);
  // kInvalidArgument for an empty host, a host with '/', or ttl <= 0.
  static absl::StatusOr<std::unique_ptr<Membership>> Join(store::KvStore& kv, std::string prefix,
                                                          MemberInfo self, int64_t ttl_seconds);

  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // Renews the lease. kNotFound: the lease has expired, this host is no
  // longer a member and must fence itself (freeze its volumes) before it
  // rejoins. kUnavailable: etcd cannot be reached; unless a renewal succeeds
  // before the TTL runs out, the same applies.
  absl::Status KeepAlive();

  // Hands the Primary role (or this host's rank) on without leaving: the
  // campaign key is deleted and created anew under the same lease, so this
  // host ranks last and the next one becomes the Primary under a new,
  // larger epoch. For a Primary that reaches etcd but not a majority of
  // the members (docs/cluster.md, "Stepping down"). kFailedPrecondition if
  // the campaign key is no longer the one this host created (its lease
  // ended). If either half fails (etcd went away, or its answer was lost)
  // the host may be a member without a campaign key, which ranks last and
  // is never the Primary; the next KeepAlive creates the key again, or
  // adopts it if the put did happen, and its renewal never fails for it.
  absl::Status StepDown();

  // Revokes the lease: both keys go at once. Leaving twice, or after the
  // lease expired, is not an error.
  absl::Status Leave();

  // Members and ranking. The ranking and the epoch are read in one range (at
  // ClusterView::revision); the member records right after it (a member that
  // leaves in between keeps its rank, with empty addresses).
  static absl::StatusOr<ClusterView> Read(store::KvStore& kv, const std::string& prefix);
  // Only the epoch (0: no Primary), in one range of the election keys: the
  // check every controller request pays for.
  static absl::StatusOr<int64_t> ReadEpoch(store::KvStore& kv, const std::string& prefix);
  // The epoch and the host it belongs to, in the same single range.
  static absl::StatusOr<Leader> ReadLeader(store::KvStore& kv, const std::string& prefix);

  // A member whose lease ends early (revoked by a controller, or by its
  // own clean leave) leaves the view at once, but its kernel may write
  // until its kernel lease runs out: up to a TTL later. Before such a
  // revoke, <prefix>departing/<host> is written under a lease of its own
  // with that TTL, so the key exists exactly while the host may still
  // write, for every controller to see (a change must not begin while a
  // host it does not control may write). Hosts whose lease simply expired
  // fenced themselves before it did and need no marker.
  static absl::Status MarkDeparting(store::KvStore& kv, const std::string& prefix,
                                    const std::string& host, int64_t ttl_seconds);
  static absl::StatusOr<std::vector<std::string>> ReadDeparting(store::KvStore& kv,
                                                                const std::string& prefix);

  const std::string& host() const { return self_.host; }
  int64_t lease() const { return lease_; }
  // The create_revision of this host's campaign key: the epoch while it is
  // the Primary.
  int64_t campaign_revision() const { return campaign_revision_; }

  // The keys, for tests and tools.
  static std::string MemberKey(const std::string& prefix, const std::string& host);
  static std::string CampaignKey(const std::string& prefix, const std::string& host);

 private:
  Membership(store::KvStore& kv, std::string prefix, MemberInfo self, int64_t lease,
             int64_t campaign_revision);

  store::KvStore& kv_;
  const std::string prefix_;
  const MemberInfo self_;
  // Creates the campaign key again after StepDown deleted it.
  absl::Status Campaign();

  const int64_t lease_;
  int64_t campaign_revision_;
  // A StepDown transaction's outcome is unknown (or the key is gone and
  // not made again): Campaign, at the next renewal, makes or adopts it.
  bool campaign_unsure_ = false;
  bool left_ = false;
};

// OK if request_epoch is the view's epoch. Otherwise kFailedPrecondition:
// "stale epoch N (current M)" for a request from a deposed controller, or a
// message saying the request is newer than the view (re-read and retry), or
// that there is no Primary at all.
absl::Status CheckEpoch(int64_t request_epoch, const ClusterView& view);

// CheckEpoch against leader.epoch, and then kPermissionDenied unless sender
// is leader.host: a controller request in the Primary's epoch from any
// other member is an impersonation (or a bug), never obeyed.
absl::Status CheckController(int64_t request_epoch, const std::string& sender,
                             const Leader& leader);

}  // namespace cvol::cluster

#endif  // CVOL_CLUSTER_MEMBERSHIP_H_
