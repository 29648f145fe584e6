// member.list: the cluster's members as this host sees them.
#include "absl/strings/str_cat.h"
#include "cluster_agent.h"
#include "cvol/control/args.h"
#include "records.h"
#include "service.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {

absl::StatusOr<Service::Json> Service::MemberList(const Json& args) {
  control::ArgReader reader(args);
  RETURN_IF_ERROR(reader.Finish());
  if (!clustered()) {
    return absl::FailedPreconditionError(
        "this daemon runs as a single host (no --host); there are no members");
  }
  ASSIGN_OR_RETURN(cluster::ClusterView view, agent_->ReadView());
  ASSIGN_OR_RETURN(store::RangeResult states,
                   kv_.Range(ClusterAgent::StateKey(agent_->prefix(), "")));
  const int64_t now_ns = static_cast<int64_t>(WallClockNs());
  Json members = Json::array();
  for (const cluster::Member& m : view.members) {
    Json j{{"host", m.host},
           {"role", cluster::RoleName(m.role)},
           {"addresses", m.addresses},
           {"lease", m.lease},
           {"member_for_s", m.joined_ns ? (now_ns - m.joined_ns) / 1e9 : 0.0},
           {"campaign_revision", m.campaign_revision},
           {"state", "unknown"},
           {"fail_count", 0}};
    for (const store::KeyValue& kv : states.kvs) {
      if (kv.key != ClusterAgent::StateKey(agent_->prefix(), m.host)) continue;
      Json s = Json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
      if (s.is_object()) {
        j["state"] = s.value("state", "unknown");
        j["fail_count"] = s.value("fail_count", 0);
        if (s.contains("since_ns") && s["since_ns"].is_number()) {
          j["state_for_s"] = (now_ns - s["since_ns"].get<int64_t>()) / 1e9;
        }
      }
    }
    // The peer link as seen from here: one ping per address.
    Json links = Json::array();
    for (const std::string& address : m.addresses) {
      const absl::Time t0 = absl::Now();
      absl::StatusOr<Json> pong =
          peers_->Call(PeerTarget{m.host, address}, "ping", view.epoch, Json::object(), absl::Seconds(1));
      Json link{{"address", address}, {"up", pong.ok()}};
      if (pong.ok()) {
        link["rtt_ms"] = absl::ToDoubleMilliseconds(absl::Now() - t0);
      } else {
        link["error"] = std::string(pong.status().message());
      }
      links.push_back(std::move(link));
    }
    j["links"] = std::move(links);
    members.push_back(std::move(j));
  }
  return Json{{"epoch", view.epoch}, {"self", agent_->host()}, {"members", std::move(members)}};
}

}  // namespace cvol::daemon
