// cvolcluster's Membership: joining under a lease, the election ranking
// (Primary, Secondary, Alternates), the epoch and its check, against
// MemKvStore and (one scenario) a real etcd. The etcd is /usr/bin/etcd
// (package etcd-server), started once for this process on free local ports;
// its absence is a failure, not a skip.
#include "cvol/cluster/membership.h"


#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cvol/store/etcd_kv_store.h"
#include "cvol/store/mem_kv_store.h"
#include "gmock/gmock.h"
#include "etcd_test_process.h"
#include "forwarding_kv_store.h"
#include "gtest/gtest.h"

namespace cvol::cluster {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPrefix[] = "/cvol/";
constexpr int64_t kTtl = 10;

MemberInfo Info(const std::string& host) {
  return MemberInfo{host, {absl::StrCat(host, ".example:7000"), "10.0.0.1:7000"}};
}

std::unique_ptr<Membership> MustJoin(store::KvStore& kv, const std::string& host) {
  absl::StatusOr<std::unique_ptr<Membership>> m = Membership::Join(kv, kPrefix, Info(host), kTtl);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

ClusterView MustRead(store::KvStore& kv) {
  absl::StatusOr<ClusterView> view = Membership::Read(kv, kPrefix);
  EXPECT_TRUE(view.ok()) << view.status();
  return view.ok() ? *view : ClusterView{};
}

// "host:role" in rank order.
std::vector<std::string> Ranking(const ClusterView& view) {
  std::vector<std::string> out;
  for (const Member& m : view.members) out.push_back(absl::StrCat(m.host, ":", RoleName(m.role)));
  return out;
}

TEST(ClusterMembershipTest, RoleNames) {
  EXPECT_STREQ(RoleName(Role::kPrimary), "primary");
  EXPECT_STREQ(RoleName(Role::kSecondary), "secondary");
  EXPECT_STREQ(RoleName(Role::kAlternate), "alternate");
}

TEST(ClusterMembershipTest, EmptyClusterHasNoPrimaryAndEpochZero) {
  store::MemKvStore kv;
  ClusterView view = MustRead(kv);
  EXPECT_TRUE(view.members.empty());
  EXPECT_EQ(view.primary(), nullptr);
  EXPECT_EQ(view.epoch, 0);
  EXPECT_EQ(Membership::ReadEpoch(kv, kPrefix).value_or(-1), 0);
  EXPECT_GT(view.revision, 0);
  EXPECT_EQ(CheckEpoch(0, view).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ClusterMembershipTest, JoinOrderGivesTheRoles) {
  store::MemKvStore kv;
  auto a = MustJoin(kv, "hostc");  // names out of key order: rank is by join
  auto b = MustJoin(kv, "hosta");
  auto c = MustJoin(kv, "hostb");
  auto d = MustJoin(kv, "hostd");
  ASSERT_TRUE(a && b && c && d);

  ClusterView view = MustRead(kv);
  EXPECT_THAT(Ranking(view), ElementsAre("hostc:primary", "hosta:secondary", "hostb:alternate",
                                         "hostd:alternate"));
  ASSERT_NE(view.primary(), nullptr);
  EXPECT_EQ(view.primary()->host, "hostc");
  EXPECT_EQ(view.epoch, a->campaign_revision());
  absl::StatusOr<int64_t> epoch = Membership::ReadEpoch(kv, kPrefix);
  ASSERT_TRUE(epoch.ok()) << epoch.status();
  EXPECT_EQ(*epoch, view.epoch);
  EXPECT_EQ(view.primary()->campaign_revision, a->campaign_revision());
  EXPECT_EQ(view.primary()->lease, a->lease());
  EXPECT_THAT(view.primary()->addresses, ElementsAre("hostc.example:7000", "10.0.0.1:7000"));
  EXPECT_GT(view.primary()->joined_ns, 0);
  EXPECT_EQ(view.revision, kv.revision());
  ASSERT_NE(view.Find("hostb"), nullptr);
  EXPECT_EQ(view.Find("hostb")->campaign_revision, c->campaign_revision());
  EXPECT_EQ(view.Find("nosuch"), nullptr);

  // Both keys are on the member's lease.
  auto member = kv.Get(Membership::MemberKey(kPrefix, "hosta"));
  auto campaign = kv.Get(Membership::CampaignKey(kPrefix, "hosta"));
  ASSERT_TRUE(member.ok() && member->has_value());
  ASSERT_TRUE(campaign.ok() && campaign->has_value());
  EXPECT_EQ((*member)->lease, b->lease());
  EXPECT_EQ((*campaign)->lease, b->lease());
  EXPECT_EQ((*member)->create_revision, (*campaign)->create_revision);  // one txn
}

TEST(ClusterMembershipTest, SameHostRefusedWhileAliveAllowedAfterExpiry) {
  store::MemKvStore kv;
  auto first = MustJoin(kv, "hosta");
  ASSERT_TRUE(first);
  const int64_t revision = kv.revision();

  absl::StatusOr<std::unique_ptr<Membership>> again =
      Membership::Join(kv, kPrefix, Info("hosta"), kTtl);
  ASSERT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  EXPECT_THAT(again.status().message(), HasSubstr("hosta"));
  EXPECT_THAT(again.status().message(), HasSubstr("already a member"));
  EXPECT_EQ(kv.revision(), revision);  // nothing written
  EXPECT_EQ(MustRead(kv).members.size(), 1u);

  ASSERT_TRUE(kv.ExpireLease(first->lease()).ok());
  EXPECT_TRUE(MustRead(kv).members.empty());
  auto second = MustJoin(kv, "hosta");
  ASSERT_TRUE(second);
  EXPECT_NE(second->lease(), first->lease());
  EXPECT_GT(second->campaign_revision(), first->campaign_revision());
}

TEST(ClusterMembershipTest, SameHostAllowedAfterTheTtlRunsOut) {
  store::MemKvStore kv;
  auto first = MustJoin(kv, "hosta");
  ASSERT_TRUE(first);
  kv.AdvanceTime(absl::Seconds(kTtl - 1));
  ASSERT_TRUE(first->KeepAlive().ok());
  kv.AdvanceTime(absl::Seconds(kTtl - 1));  // renewed: still alive
  EXPECT_EQ(Membership::Join(kv, kPrefix, Info("hosta"), kTtl).status().code(),
            absl::StatusCode::kAlreadyExists);
  kv.AdvanceTime(absl::Seconds(2));  // past the renewed deadline
  EXPECT_TRUE(MustJoin(kv, "hosta"));
}

TEST(ClusterMembershipTest, PrimaryExpirySecondaryBecomesPrimaryEpochIncreases) {
  store::MemKvStore kv;
  auto a = MustJoin(kv, "hosta");
  auto b = MustJoin(kv, "hostb");
  auto c = MustJoin(kv, "hostc");
  ASSERT_TRUE(a && b && c);
  const ClusterView before = MustRead(kv);
  EXPECT_THAT(Ranking(before), ElementsAre("hosta:primary", "hostb:secondary", "hostc:alternate"));

  // A Secondary or Alternate leaving does not change the epoch.
  ASSERT_TRUE(kv.ExpireLease(c->lease()).ok());
  EXPECT_EQ(MustRead(kv).epoch, before.epoch);

  ASSERT_TRUE(kv.ExpireLease(a->lease()).ok());
  const ClusterView after = MustRead(kv);
  EXPECT_THAT(Ranking(after), ElementsAre("hostb:primary"));
  EXPECT_GT(after.epoch, before.epoch);
  EXPECT_EQ(after.epoch, b->campaign_revision());

  // The deposed Primary rejoins last; the epoch stays.
  auto a2 = MustJoin(kv, "hosta");
  ASSERT_TRUE(a2);
  const ClusterView rejoined = MustRead(kv);
  EXPECT_THAT(Ranking(rejoined), ElementsAre("hostb:primary", "hosta:secondary"));
  EXPECT_EQ(rejoined.epoch, after.epoch);
}

TEST(ClusterMembershipTest, CheckEpochAcceptsCurrentRefusesOld) {
  store::MemKvStore kv;
  auto a = MustJoin(kv, "hosta");
  auto b = MustJoin(kv, "hostb");
  ASSERT_TRUE(a && b);
  const int64_t old_epoch = MustRead(kv).epoch;
  EXPECT_TRUE(CheckEpoch(old_epoch, MustRead(kv)).ok());

  ASSERT_TRUE(kv.ExpireLease(a->lease()).ok());
  const ClusterView view = MustRead(kv);
  EXPECT_TRUE(CheckEpoch(view.epoch, view).ok());
  absl::Status stale = CheckEpoch(old_epoch, view);
  EXPECT_EQ(stale.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(stale.message(), absl::StrCat("stale epoch ", old_epoch, " (current ", view.epoch, ")"));

  absl::Status newer = CheckEpoch(view.epoch + 5, view);
  EXPECT_EQ(newer.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(newer.message(), HasSubstr("newer"));
}

// A controller step must come from the Primary of its epoch: the right
// epoch from another member is refused, and after a failover the old
// Primary is refused as stale even under its own name.
TEST(ClusterMembershipTest, CheckControllerNeedsThePrimaryOfTheEpoch) {
  store::MemKvStore kv;
  auto a = MustJoin(kv, "hosta");
  auto b = MustJoin(kv, "hostb");
  ASSERT_TRUE(a && b);
  absl::StatusOr<Leader> leader = Membership::ReadLeader(kv, kPrefix);
  ASSERT_TRUE(leader.ok()) << leader.status();
  EXPECT_EQ(leader->host, "hosta");
  EXPECT_EQ(leader->epoch, a->campaign_revision());
  EXPECT_TRUE(CheckController(leader->epoch, "hosta", *leader).ok());
  absl::Status other = CheckController(leader->epoch, "hostb", *leader);
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(other.message(), HasSubstr("the Primary of epoch"));

  const int64_t old_epoch = leader->epoch;
  ASSERT_TRUE(kv.ExpireLease(a->lease()).ok());
  leader = Membership::ReadLeader(kv, kPrefix);
  ASSERT_TRUE(leader.ok()) << leader.status();
  EXPECT_EQ(leader->host, "hostb");
  EXPECT_EQ(CheckController(old_epoch, "hosta", *leader).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(CheckController(leader->epoch, "hostb", *leader).ok());

  ASSERT_TRUE(kv.ExpireLease(b->lease()).ok());
  leader = Membership::ReadLeader(kv, kPrefix);
  ASSERT_TRUE(leader.ok()) << leader.status();
  EXPECT_EQ(leader->epoch, 0);
  EXPECT_EQ(leader->host, "");
  EXPECT_EQ(CheckController(0, "", *leader).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ClusterMembershipTest, LeaveRemovesTheMember) {
  store::MemKvStore kv;
  auto a = MustJoin(kv, "hosta");
  auto b = MustJoin(kv, "hostb");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Leave().ok());
  EXPECT_THAT(Ranking(MustRead(kv)), ElementsAre("hostb:primary"));
  auto member = kv.Get(Membership::MemberKey(kPrefix, "hosta"));
  ASSERT_TRUE(member.ok());
  EXPECT_FALSE(member->has_value());
  EXPECT_TRUE(a->Leave().ok());  // twice: fine
  EXPECT_EQ(a->KeepAlive().code(), absl::StatusCode::kFailedPrecondition);

  // Leaving after the lease expired is fine too.
  ASSERT_TRUE(kv.ExpireLease(b->lease()).ok());
  EXPECT_TRUE(b->Leave().ok());
  EXPECT_TRUE(MustRead(kv).members.empty());
}

TEST(ClusterMembershipTest, KeepAliveAfterExpiryFailsAndSaysFence) {
  store::MemKvStore kv;
  auto a = MustJoin(kv, "hosta");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->KeepAlive().ok());
  ASSERT_TRUE(kv.ExpireLease(a->lease()).ok());
  absl::Status s = a->KeepAlive();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(s.message(), HasSubstr("fence"));
  EXPECT_THAT(s.message(), HasSubstr("hosta"));
}

TEST(ClusterMembershipTest, UnavailableStoreIsPassedThrough) {
  store::MemKvStore kv;
  auto a = MustJoin(kv, "hosta");
  ASSERT_TRUE(a);
  kv.SetUnavailable(true);
  absl::Status s = a->KeepAlive();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("fence"));
  EXPECT_EQ(Membership::Join(kv, kPrefix, Info("hostb"), kTtl).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(Membership::Read(kv, kPrefix).status().code(), absl::StatusCode::kUnavailable);
  kv.SetUnavailable(false);
  EXPECT_TRUE(a->KeepAlive().ok());
}

TEST(ClusterMembershipTest, BadJoinArgumentsAreRefused) {
  store::MemKvStore kv;
  EXPECT_EQ(Membership::Join(kv, kPrefix, Info(""), kTtl).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Membership::Join(kv, kPrefix, Info("a/b"), kTtl).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Membership::Join(kv, kPrefix, Info("hosta"), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MustRead(kv).members.empty());
}

TEST(ClusterMembershipTest, CorruptMemberRecordIsDataLoss) {
  store::MemKvStore kv;
  auto a = MustJoin(kv, "hosta");
  ASSERT_TRUE(a);
  const store::Op put = store::Op::Put(Membership::MemberKey(kPrefix, "hosta"), "{not json",
                                       a->lease());
  ASSERT_TRUE(kv.Txn({}, {&put, 1}).ok());
  EXPECT_EQ(Membership::Read(kv, kPrefix).status().code(), absl::StatusCode::kDataLoss);
}

// --- Against a real etcd ---

TEST(ClusterMembershipEtcdTest, ThreeJoinPrimaryRevokesRankingAndEpochChange) {
  absl::StatusOr<std::unique_ptr<store::etcd_test::EtcdProcess>> etcd =
      store::etcd_test::EtcdProcess::Start();
  ASSERT_TRUE(etcd.ok()) << etcd.status();  // no etcd is a failure, not a skip
  auto kv = store::EtcdKvStore::Connect((*etcd)->endpoint(), (*etcd)->ClientOptions());
  ASSERT_TRUE(kv.ok()) << kv.status();

  auto a = MustJoin(**kv, "hosta");
  auto b = MustJoin(**kv, "hostb");
  auto c = MustJoin(**kv, "hostc");
  ASSERT_TRUE(a && b && c);
  const ClusterView before = MustRead(**kv);
  EXPECT_THAT(Ranking(before), ElementsAre("hosta:primary", "hostb:secondary", "hostc:alternate"));
  EXPECT_EQ(before.epoch, a->campaign_revision());
  EXPECT_THAT(before.primary()->addresses, ElementsAre("hosta.example:7000", "10.0.0.1:7000"));
  EXPECT_EQ(Membership::Join(**kv, kPrefix, Info("hostb"), kTtl).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(b->KeepAlive().ok());

  ASSERT_TRUE(a->Leave().ok());
  const ClusterView after = MustRead(**kv);
  EXPECT_THAT(Ranking(after), ElementsAre("hostb:primary", "hostc:secondary"));
  EXPECT_GT(after.epoch, before.epoch);
  EXPECT_EQ(after.epoch, b->campaign_revision());
  EXPECT_TRUE(CheckEpoch(after.epoch, after).ok());
  EXPECT_EQ(CheckEpoch(before.epoch, after).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a->KeepAlive().code(), absl::StatusCode::kFailedPrecondition);  // it left

  // Stepping down through etcd's gateway: the create-revision guard, then
  // the key again under the same lease.
  ASSERT_TRUE(b->StepDown().ok());
  const ClusterView stepped = MustRead(**kv);
  EXPECT_THAT(Ranking(stepped), ElementsAre("hostc:primary", "hostb:secondary"));
  EXPECT_EQ(stepped.epoch, c->campaign_revision());
  EXPECT_GT(stepped.epoch, after.epoch);
  EXPECT_EQ(stepped.Find("hostb")->campaign_revision, b->campaign_revision());

  EXPECT_TRUE(b->Leave().ok());
  EXPECT_TRUE(c->Leave().ok());
  EXPECT_TRUE(MustRead(**kv).members.empty());
}

// A host whose lease ends early may still write until its kernel lease
// runs out: the marker lasts exactly one TTL, whatever becomes of the
// host's own lease.
TEST(ClusterMembershipTest, DepartingMarkerOutlivesTheRevokedLeaseByOneTtl) {
  store::MemKvStore kv;
  auto a = MustJoin(kv, "hosta");
  ASSERT_TRUE(a);
  absl::StatusOr<std::vector<std::string>> none = Membership::ReadDeparting(kv, kPrefix);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(Membership::MarkDeparting(kv, kPrefix, "hosta", kTtl).ok());
  ASSERT_TRUE(kv.LeaseRevoke(a->lease()).ok());
  EXPECT_EQ(MustRead(kv).Find("hosta"), nullptr);
  kv.AdvanceTime(absl::Seconds(kTtl - 1));
  EXPECT_EQ(*Membership::ReadDeparting(kv, kPrefix), std::vector<std::string>{"hosta"});
  kv.AdvanceTime(absl::Seconds(2));
  EXPECT_TRUE(Membership::ReadDeparting(kv, kPrefix)->empty());
}

// A Primary that steps down ranks last under the same lease, and the next
// one becomes the Primary under a larger epoch; nobody left the cluster.
TEST(ClusterMembershipTest, StepDownHandsTheRoleOnAndRanksLast) {
  store::MemKvStore kv;
  auto a = MustJoin(kv, "hosta");
  auto b = MustJoin(kv, "hostb");
  auto c = MustJoin(kv, "hostc");
  ASSERT_TRUE(a && b && c);
  const int64_t lease = a->lease();
  const ClusterView before = MustRead(kv);
  ASSERT_TRUE(a->StepDown().ok());
  const ClusterView after = MustRead(kv);
  EXPECT_THAT(Ranking(after), ElementsAre("hostb:primary", "hostc:secondary", "hosta:alternate"));
  EXPECT_GT(after.epoch, before.epoch);
  EXPECT_EQ(after.epoch, b->campaign_revision());
  EXPECT_GT(a->campaign_revision(), c->campaign_revision());
  EXPECT_EQ(after.Find("hosta")->lease, lease);
  EXPECT_EQ(after.Find("hosta")->addresses, Info("hosta").addresses);
  EXPECT_TRUE(a->KeepAlive().ok());
  // The deposed epoch is refused from now on.
  EXPECT_EQ(CheckEpoch(before.epoch, after).code(), absl::StatusCode::kFailedPrecondition);
}

// The campaign key of a host whose lease ended is gone: nothing to hand on.
TEST(ClusterMembershipTest, StepDownAfterTheLeaseEndedIsRefused) {
  store::MemKvStore kv;
  auto a = MustJoin(kv, "hosta");
  auto b = MustJoin(kv, "hostb");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(kv.ExpireLease(a->lease()).ok());
  EXPECT_EQ(a->StepDown().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Ranking(MustRead(kv)), ElementsAre("hostb:primary"));
}

// A store that fails the n-th transaction from now (etcd going away between
// the two halves of a step-down), before or after applying it (the answer
// lost).
class FailNthTxn final : public store::ForwardingKvStore {
 public:
  FailNthTxn(store::KvStore& kv, int n, bool apply = false)
      : ForwardingKvStore(kv), n_(n), apply_(apply) {}
  absl::StatusOr<store::TxnResult> Txn(absl::Span<const store::Compare> compares,
                                       absl::Span<const store::Op> success,
                                       absl::Span<const store::Op> failure) override {
    if (--n_ == 0) {
      if (apply_) (void)kv_.Txn(compares, success, failure);
      return absl::UnavailableError("etcd went away");
    }
    return kv_.Txn(compares, success, failure);
  }

 private:
  int n_;
  const bool apply_;
};

// The put of a step-down happened but its answer was lost: the key is this
// host's (its lease), so the next renewal adopts it instead of failing
// (which would fence the host for good: the lease renews, the key exists).
TEST(ClusterMembershipTest, StepDownWhosePutAnswerWasLostIsAdopted) {
  store::MemKvStore mem;
  FailNthTxn kv(mem, 4, /*apply=*/true);
  auto a = MustJoin(kv, "hosta");
  auto b = MustJoin(kv, "hostb");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->StepDown().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(a->KeepAlive().ok());
  EXPECT_TRUE(a->KeepAlive().ok());
  const ClusterView view = MustRead(mem);
  EXPECT_THAT(Ranking(view), ElementsAre("hostb:primary", "hosta:secondary"));
  EXPECT_EQ(view.Find("hosta")->campaign_revision, a->campaign_revision());
}

// The delete of a step-down happened but its answer was lost: the host
// ranks nowhere until the next renewal campaigns again.
TEST(ClusterMembershipTest, StepDownWhoseDeleteAnswerWasLostCampaignsAgain) {
  store::MemKvStore mem;
  FailNthTxn kv(mem, 3, /*apply=*/true);
  auto a = MustJoin(kv, "hosta");
  auto b = MustJoin(kv, "hostb");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->StepDown().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Ranking(MustRead(mem)), ElementsAre("hostb:primary", "hosta:alternate"));
  EXPECT_TRUE(a->KeepAlive().ok());
  const ClusterView view = MustRead(mem);
  EXPECT_THAT(Ranking(view), ElementsAre("hostb:primary", "hosta:secondary"));
  EXPECT_EQ(view.Find("hosta")->campaign_revision, a->campaign_revision());
}

// Between the two halves the host is still a member (its volumes are
// live): it ranks last and is never the Primary, and the next renewal
// campaigns again.
TEST(ClusterMembershipTest, StepDownInterruptedKeepsTheMemberAndCampaignsAtTheNextRenewal) {
  store::MemKvStore mem;
  FailNthTxn kv(mem, 4);  // the two joins, the delete; then the put fails
  auto a = MustJoin(kv, "hosta");
  auto b = MustJoin(kv, "hostb");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->StepDown().code(), absl::StatusCode::kUnavailable);
  ClusterView gap = MustRead(mem);
  EXPECT_THAT(Ranking(gap), ElementsAre("hostb:primary", "hosta:alternate"));
  EXPECT_EQ(gap.Find("hosta")->campaign_revision, 0);
  EXPECT_TRUE(a->KeepAlive().ok());
  const ClusterView after = MustRead(mem);
  EXPECT_THAT(Ranking(after), ElementsAre("hostb:primary", "hosta:secondary"));
  EXPECT_EQ(after.Find("hosta")->campaign_revision, a->campaign_revision());
  EXPECT_GT(a->campaign_revision(), b->campaign_revision());
  // Alone without a campaign key, a member is still no Primary.
  ASSERT_TRUE(mem.ExpireLease(b->lease()).ok());
  ASSERT_TRUE(mem.Txn({}, std::vector<store::Op>{store::Op::Delete(
                              Membership::CampaignKey(kPrefix, "hosta"))})
                  .ok());
  const ClusterView alone = MustRead(mem);
  ASSERT_EQ(alone.members.size(), 1u);
  EXPECT_EQ(alone.primary(), nullptr);
  EXPECT_EQ(alone.epoch, 0);
}

}  // namespace
}  // namespace cvol::cluster
