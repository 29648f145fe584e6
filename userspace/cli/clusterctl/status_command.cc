// clusterctl status
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "command.h"
#include "cvol/status_macros.h"

namespace cvol::clusterctl {
namespace {

// "3d 4h", "2h 05m", "4m 10s", "12s".
std::string FormatUptime(uint64_t seconds) {
  if (seconds >= 86400) return absl::StrFormat("%dd %dh", seconds / 86400, seconds / 3600 % 24);
  if (seconds >= 3600) return absl::StrFormat("%dh %02dm", seconds / 3600, seconds / 60 % 60);
  if (seconds >= 60) return absl::StrFormat("%dm %02ds", seconds / 60, seconds % 60);
  return absl::StrCat(seconds, "s");
}

absl::Status Status(const po::variables_map&, Context& ctx) {
  ASSIGN_OR_RETURN(json result, ctx.Call("status", json::object()));
  if (ctx.json_output()) {
    ctx.PrintJson(result);
    return absl::OkStatus();
  }
  const json& s = result;
  const json& daemon = s.is_object() && s.contains("daemon") ? s["daemon"] : json::object();
  const json& etcd = s.is_object() && s.contains("etcd") ? s["etcd"] : json::object();
  std::ostream& out = ctx.out();
  out << "cvold " << Str(daemon, "version") << " on " << Str(daemon, "host") << ": pid "
      << Str(daemon, "pid") << ", up " << FormatUptime(Num(daemon, "uptime_s"))
      << ", protocol " << Str(daemon, "protocol") << "\n";
  out << "etcd " << Str(etcd, "endpoints") << ": "
      << (Flag(etcd, "reachable") ? absl::StrCat("reachable, revision ", Num(etcd, "revision"))
                                  : std::string("UNREACHABLE (volumes keep working; changes "
                                                "wait for etcd)"))
      << "\n";
  out << "volumes: " << Num(s, "volumes") << "\n\nPools:\n";
  PrintPoolTable(Array(s, "pools"), out);
  out << "\nMoves:\n";
  PrintMoveTable(Array(s, "moves"), out);
  return absl::OkStatus();
}

}  // namespace

void AddStatusVerb(std::vector<Verb>& verbs) {
  verbs.push_back(Verb{"status", "", "", "show the daemon, etcd, pools and moves in progress", "",
                       {}, {}, Status});
}

}  // namespace cvol::clusterctl
