#include "cvol/cluster/membership.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cvol/status_macros.h"
#include "cvol/store/kv_store.h"
#include "nlohmann/json.hpp"

namespace cvol::cluster {
namespace {

constexpr char kMembersDir[] = "members/";
constexpr char kElectionDir[] = "election/";

std::string EncodeMember(const MemberInfo& info, int64_t joined_ns) {
  nlohmann::json j;
  j["host"] = info.host;
  j["addresses"] = info.addresses;
  j["joined_ns"] = joined_ns;
  return j.dump();
}

// Fills host, addresses and joined_ns of *m from a member record.
absl::Status DecodeMember(const std::string& key, const std::string& value, Member* m) {
  try {
    const nlohmann::json j = nlohmann::json::parse(value);
    m->host = j.at("host").get<std::string>();
    m->addresses = j.value("addresses", std::vector<std::string>{});
    m->joined_ns = j.value("joined_ns", int64_t{0});
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("member record ", key, " is not valid: ", e.what()));
  }
  return absl::OkStatus();
}

// The status with its code kept and context put in front of its message.
absl::Status Annotate(const absl::Status& s, const std::string& context) {
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kPrimary:
      return "primary";
    case Role::kSecondary:
      return "secondary";
    case Role::kAlternate:
      return "alternate";
  }
  return "unknown";
}

const Member* ClusterView::Find(const std::string& host) const {
  for (const Member& m : members) {
    if (m.host == host) return &m;
  }
  return nullptr;
}

std::string Membership::MemberKey(const std::string& prefix, const std::string& host) {
  return absl::StrCat(prefix, kMembersDir, host);
}

std::string Membership::CampaignKey(const std::string& prefix, const std::string& host) {
  return absl::StrCat(prefix, kElectionDir, host);
}

Membership::Membership(store::KvStore& kv, std::string prefix, MemberInfo self, int64_t lease,
                       int64_t campaign_revision)
    : kv_(kv),
      prefix_(std::move(prefix)),
      self_(std::move(self)),
      lease_(lease),
      campaign_revision_(campaign_revision) {}

absl::StatusOr<std::unique_ptr<Membership>> Membership::Join(store::KvStore& kv,
                                                             std::string prefix, MemberInfo self,
                                                             int64_t ttl_seconds) {
  if (self.host.empty()) return absl::InvalidArgumentError("cannot join: empty host name");
  if (absl::StrContains(self.host, '/')) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot join: host name '", self.host, "' contains '/'"));
  }
  if (ttl_seconds <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot join: lease ttl must be positive, not ", ttl_seconds));
  }
  absl::StatusOr<int64_t> lease = kv.LeaseGrant(ttl_seconds);
  if (!lease.ok()) {
    return Annotate(lease.status(), absl::StrCat("host ", self.host, " cannot join: lease grant"));
  }
  const std::string member_key = MemberKey(prefix, self.host);
  const std::string campaign_key = CampaignKey(prefix, self.host);
  const store::Compare compares[] = {store::Compare::Absent(member_key),
                                     store::Compare::Absent(campaign_key)};
  const store::Op ops[] = {
      store::Op::Put(member_key, EncodeMember(self, absl::ToUnixNanos(absl::Now())), *lease),
      store::Op::Put(campaign_key, self.host, *lease)};
  absl::StatusOr<store::TxnResult> txn = kv.Txn(compares, ops);
  if (!txn.ok() || !txn->succeeded) {
    // Best effort: the keys of a write whose outcome is unknown go with it.
    (void)kv.LeaseRevoke(*lease);
  }
  if (!txn.ok()) {
    return Annotate(txn.status(), absl::StrCat("host ", self.host, " cannot join"));
  }
  if (!txn->succeeded) {
    std::string holder;
    absl::StatusOr<std::optional<store::KeyValue>> existing = kv.Get(campaign_key);
    if (existing.ok() && existing->has_value()) {
      holder = absl::StrCat(" (lease ", (*existing)->lease, ", campaigning since revision ",
                            (*existing)->create_revision, ")");
    }
    return absl::AlreadyExistsError(absl::StrCat(
        "host ", self.host, " is already a member of the cluster under ", prefix, holder,
        ": another live daemon holds this name; stop it or wait for its lease to expire"));
  }
  return std::unique_ptr<Membership>(
      new Membership(kv, std::move(prefix), std::move(self), *lease, txn->revision));
}

absl::Status Membership::KeepAlive() {
  if (left_) {
    return absl::FailedPreconditionError(
        absl::StrCat("host ", self_.host, " has left the cluster; join again"));
  }
  absl::Status s = kv_.LeaseKeepAlive(lease_);
  if (s.ok()) {
    // The lease is renewed whatever becomes of the campaign key: a host
    // that ranks nowhere for a while is still a member, and must not fence.
    if (campaign_unsure_) (void)Campaign();
    return s;
  }
  if (absl::IsNotFound(s)) {
    return absl::NotFoundError(absl::StrCat(
        "lease ", lease_, " of host ", self_.host,
        " has expired: this host is no longer a member and must fence itself (freeze its "
        "volumes) before it rejoins (",
        s.message(), ")"));
  }
  if (absl::IsUnavailable(s)) {
    return absl::UnavailableError(absl::StrCat(
        "cannot renew lease ", lease_, " of host ", self_.host,
        ": if it is not renewed before its ttl runs out this host must fence itself (",
        s.message(), ")"));
  }
  return Annotate(s, absl::StrCat("renewing lease ", lease_, " of host ", self_.host));
}

absl::Status Membership::StepDown() {
  if (left_) {
    return absl::FailedPreconditionError(
        absl::StrCat("host ", self_.host, " has left the cluster; nothing to step down from"));
  }
  if (campaign_unsure_) return Campaign();
  // etcd refuses a delete and a put of one key in one transaction: two.
  const std::string key = CampaignKey(prefix_, self_.host);
  const store::Compare ours[] = {store::Compare::CreateRevisionIs(key, campaign_revision_)};
  const store::Op remove[] = {store::Op::Delete(key)};
  absl::StatusOr<store::TxnResult> txn = kv_.Txn(ours, remove);
  if (!txn.ok()) {
    // The delete may have happened: Campaign finds out at the next renewal.
    campaign_unsure_ = true;
    return Annotate(txn.status(), absl::StrCat("host ", self_.host, " cannot step down"));
  }
  if (!txn->succeeded) {
    return absl::FailedPreconditionError(
        absl::StrCat("host ", self_.host, " cannot step down: its campaign key (revision ",
                     campaign_revision_, ") is gone"));
  }
  campaign_unsure_ = true;
  return Campaign();
}

absl::Status Membership::Campaign() {
  const std::string key = CampaignKey(prefix_, self_.host);
  // Under the member's own lease: if it ended meanwhile, etcd refuses the
  // put and the host is no member to campaign for.
  const store::Compare absent[] = {store::Compare::Absent(key)};
  const store::Op put[] = {store::Op::Put(key, self_.host, lease_)};
  absl::StatusOr<store::TxnResult> txn = kv_.Txn(absent, put);
  if (!txn.ok()) {
    return Annotate(txn.status(),
                    absl::StrCat("host ", self_.host, " cannot campaign again (it ranks nowhere "
                                 "until it does)"));
  }
  if (txn->succeeded) {
    campaign_revision_ = txn->revision;
    campaign_unsure_ = false;
    return absl::OkStatus();
  }
  // The key exists: this host's own (an earlier put, or a delete that
  // never happened, whose answers were lost), or nobody's business.
  absl::StatusOr<std::optional<store::KeyValue>> got = kv_.Get(key);
  if (!got.ok()) return Annotate(got.status(), "reading the campaign key");
  if (!got->has_value() || (*got)->lease != lease_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "host ", self_.host, "'s campaign key is held under another lease"));
  }
  campaign_revision_ = (*got)->create_revision;
  campaign_unsure_ = false;
  return absl::OkStatus();
}

absl::Status Membership::Leave() {
  if (left_) return absl::OkStatus();
  absl::Status s = kv_.LeaseRevoke(lease_);
  if (s.ok() || absl::IsNotFound(s)) {  // expired already: the keys are gone
    left_ = true;
    return absl::OkStatus();
  }
  return Annotate(s, absl::StrCat("host ", self_.host, " cannot leave: revoking lease ", lease_));
}

absl::StatusOr<ClusterView> Membership::Read(store::KvStore& kv, const std::string& prefix) {
  const std::string election_dir = absl::StrCat(prefix, kElectionDir);
  absl::StatusOr<store::RangeResult> campaigns = kv.Range(election_dir);
  if (!campaigns.ok()) return Annotate(campaigns.status(), "reading the election keys");
  const std::string members_dir = absl::StrCat(prefix, kMembersDir);
  absl::StatusOr<store::RangeResult> records = kv.Range(members_dir);
  if (!records.ok()) return Annotate(records.status(), "reading the member records");

  std::map<std::string, const store::KeyValue*> by_host;
  for (const store::KeyValue& kv_record : records->kvs) {
    by_host[kv_record.key.substr(members_dir.size())] = &kv_record;
  }

  std::vector<const store::KeyValue*> ranked;
  ranked.reserve(campaigns->kvs.size());
  for (const store::KeyValue& c : campaigns->kvs) ranked.push_back(&c);
  std::sort(ranked.begin(), ranked.end(), [](const store::KeyValue* a, const store::KeyValue* b) {
    return a->create_revision < b->create_revision;
  });

  ClusterView view;
  view.revision = campaigns->revision;
  for (size_t i = 0; i < ranked.size(); ++i) {
    const store::KeyValue& c = *ranked[i];
    Member m;
    m.host = c.key.substr(election_dir.size());
    auto it = by_host.find(m.host);
    if (it != by_host.end()) {
      if (absl::Status s = DecodeMember(it->second->key, it->second->value, &m); !s.ok()) return s;
    }
    m.role = i == 0 ? Role::kPrimary : i == 1 ? Role::kSecondary : Role::kAlternate;
    m.campaign_revision = c.create_revision;
    m.lease = c.lease;
    view.members.push_back(std::move(m));
    by_host.erase(c.key.substr(election_dir.size()));
  }
  // Members without a campaign key: one that is stepping down (between
  // deleting its key and creating it anew) or that joined after the
  // election keys were read. Still members -- their volumes are live --
  // so they rank last, and never as the Primary.
  for (const auto& [host, record] : by_host) {
    Member m;
    m.host = host;
    if (absl::Status s = DecodeMember(record->key, record->value, &m); !s.ok()) return s;
    m.role = Role::kAlternate;  // it can take nothing over
    m.lease = record->lease;
    view.members.push_back(std::move(m));
  }
  view.epoch = view.members.empty() ? 0 : view.members.front().campaign_revision;
  return view;
}

absl::StatusOr<int64_t> Membership::ReadEpoch(store::KvStore& kv, const std::string& prefix) {
  ASSIGN_OR_RETURN(Leader leader, ReadLeader(kv, prefix));
  return leader.epoch;
}

absl::StatusOr<Leader> Membership::ReadLeader(store::KvStore& kv, const std::string& prefix) {
  const std::string dir = absl::StrCat(prefix, kElectionDir);
  absl::StatusOr<store::RangeResult> campaigns = kv.Range(dir);
  if (!campaigns.ok()) return Annotate(campaigns.status(), "reading the election keys");
  Leader leader;
  for (const store::KeyValue& c : campaigns->kvs) {
    if (leader.epoch == 0 || c.create_revision < leader.epoch) {
      leader.epoch = c.create_revision;
      // The key, not the value, names the host: Join's guarded create of
      // that key is what makes the name unique.
      leader.host = c.key.substr(dir.size());
    }
  }
  return leader;
}

absl::Status Membership::MarkDeparting(store::KvStore& kv, const std::string& prefix,
                                       const std::string& host, int64_t ttl_seconds) {
  absl::StatusOr<int64_t> lease = kv.LeaseGrant(ttl_seconds);
  if (!lease.ok()) return Annotate(lease.status(), "granting the departing marker's lease");
  const store::Op put = store::Op::Put(absl::StrCat(prefix, "departing/", host), host, *lease);
  absl::StatusOr<store::TxnResult> r = kv.Txn({}, {&put, 1});
  if (!r.ok()) return Annotate(r.status(), "writing the departing marker");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Membership::ReadDeparting(store::KvStore& kv,
                                                                   const std::string& prefix) {
  absl::StatusOr<store::RangeResult> r = kv.Range(absl::StrCat(prefix, "departing/"));
  if (!r.ok()) return Annotate(r.status(), "reading the departing markers");
  std::vector<std::string> hosts;
  for (const store::KeyValue& kv_pair : r->kvs) hosts.push_back(kv_pair.value);
  return hosts;
}

absl::Status CheckEpoch(int64_t request_epoch, const ClusterView& view) {
  if (request_epoch == view.epoch && view.epoch != 0) return absl::OkStatus();
  if (view.epoch == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "epoch ", request_epoch, " refused: the cluster has no primary (current 0)"));
  }
  if (request_epoch < view.epoch) {
    return absl::FailedPreconditionError(
        absl::StrCat("stale epoch ", request_epoch, " (current ", view.epoch, ")"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("epoch ", request_epoch, " is newer than this host's view (current ",
                   view.epoch, "): re-read the cluster view and retry"));
}

absl::Status CheckController(int64_t request_epoch, const std::string& sender,
                             const Leader& leader) {
  ClusterView view;
  view.epoch = leader.epoch;
  RETURN_IF_ERROR(CheckEpoch(request_epoch, view));
  if (sender == leader.host) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("controller request from '", sender, "' refused: the Primary of epoch ",
                   leader.epoch, " is '", leader.host, "'"));
}

}  // namespace cvol::cluster
