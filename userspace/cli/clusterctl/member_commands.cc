// clusterctl member list
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "command.h"
#include "cvol/status_macros.h"
#include "table.h"

namespace cvol::clusterctl {
namespace {

std::string Seconds(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return "-";
  return absl::StrFormat("%.1fs", it->get<double>());
}

// "up 0.4ms" per address, "down" with the reason shortened.
std::string Links(const json& member) {
  std::string out;
  for (const json& link : Array(member, "links")) {
    if (!out.empty()) out += ", ";
    const bool up = link.is_object() && link.value("up", false);
    out += up ? absl::StrFormat("up %.1fms", link.value("rtt_ms", 0.0)) : std::string("down");
  }
  return out.empty() ? "-" : out;
}

absl::Status MemberList(const po::variables_map&, Context& ctx) {
  ASSIGN_OR_RETURN(json result, ctx.Call("member.list", json::object()));
  if (ctx.json_output()) {
    ctx.PrintJson(result);
    return absl::OkStatus();
  }
  Table table({{"HOST"}, {"ROLE"}, {"STATE"}, {"FAILS", Table::Align::kRight},
               {"MEMBER FOR", Table::Align::kRight}, {"LEASE"}, {"LINKS"}});
  for (const json& m : Array(result, "members")) {
    table.AddRow({Str(m, "host") + (Str(m, "host") == Str(result, "self") ? " *" : ""),
                  Str(m, "role"), Str(m, "state"), Str(m, "fail_count"),
                  Seconds(m, "member_for_s"), absl::StrFormat("%x", Num(m, "lease")), Links(m)});
  }
  if (table.empty()) {
    ctx.out() << "(no members)\n";
  } else {
    table.Print(ctx.out());
  }
  ctx.out() << "epoch " << Num(result, "epoch") << "; * is this host\n";
  return absl::OkStatus();
}

}  // namespace

void AddMemberVerbs(std::vector<Verb>& verbs) {
  verbs.push_back(Verb{"member", "list", "",
                       "list the cluster's members: role, state, fail count, lease, links",
                       "Roles come from the election (campaign order): the primary runs the\n"
                       "configuration-change controller, the secondary takes over, alternates\n"
                       "follow in order. STATE is what each member last published: active,\n"
                       "fenced (its volumes hold I/O) or rejoining (reloading maps). LINKS is\n"
                       "this host's ping of the member's peer address.",
                       {}, {}, MemberList});
}

}  // namespace cvol::clusterctl
