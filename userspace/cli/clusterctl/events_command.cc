// clusterctl events
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "command.h"
#include "cvol/status_macros.h"
#include "events_format.h"

namespace cvol::clusterctl {
namespace {

absl::Status Events(const po::variables_map&, Context& ctx) {
  auto on_event = [&ctx](const control::Reply& reply) {
    if (reply.kind != control::Reply::kEvent) return;
    if (ctx.json_output()) {
      ctx.PrintJson(reply.body);
    } else {
      ctx.out() << FormatEvent(reply.body) << "\n" << std::flush;
    }
  };
  // The stream never ends by itself; no reply timeout applies.
  ASSIGN_OR_RETURN(json result,
                   ctx.Call("events", json::object(), on_event, absl::InfiniteDuration()));
  // A daemon that ends the stream with ok has nothing more to say.
  return absl::OkStatus();
}

}  // namespace

std::string FormatEvent(const json& event) {
  // Joined from parts: GCC 12 warns falsely (-Wrestrict) on appending a
  // literal to a string that was assigned a literal.
  std::vector<std::string> parts;
  if (event.is_object() && event.contains("time_ns") && event["time_ns"].is_number()) {
    absl::Time time = absl::FromUnixNanos(static_cast<int64_t>(Num(event, "time_ns")));
    parts.push_back(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone()));
  } else {
    parts.push_back("-");
  }
  parts.push_back(Str(event, "type"));
  if (!event.is_object()) return absl::StrJoin(parts, " ");
  if (event.contains("volume")) parts.push_back(Str(event, "volume"));
  for (const auto& [key, value] : event.items()) {
    if (key == "time_ns" || key == "type" || key == "volume") continue;
    parts.push_back(absl::StrCat(
        key, "=",
        value.is_string() ? value.get<std::string>()
                          : value.dump(-1, ' ', false, json::error_handler_t::replace)));
  }
  return absl::StrJoin(parts, " ");
}

void AddEventsVerb(std::vector<Verb>& verbs) {
  verbs.push_back(Verb{
      "events", "", "", "stream the cluster's events until interrupted",
      "One line per event: time (UTC), type, volume, then the other fields as\n"
      "key=value. With --json, each event is one JSON object per line.",
      {}, {}, Events});
}

}  // namespace cvol::clusterctl
