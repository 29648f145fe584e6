#include "change_messages.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "cvol/control/args.h"
#include "cvol/control/names.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {
namespace {

using control::ArgReader;
using Json = nlohmann::json;

Json LocationJson(const Location& l) { return Json::array({l.dev, l.pext}); }

absl::StatusOr<Location> ReadLocation(ArgReader& reader, const char* name) {
  ASSIGN_OR_RETURN(Json j, reader.Raw(name));
  if (!j.is_array() || j.size() != 2 || !j[0].is_number_unsigned() ||
      !j[1].is_number_unsigned() || j[0].get<uint64_t>() > UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be [slot, pext]"));
  }
  return Location{j[0].get<uint32_t>(), j[1].get<uint64_t>()};
}

// [[first, count]...], ascending and apart, within [0, regions).
absl::StatusOr<std::vector<DirtyRun>> ReadRuns(ArgReader& reader, const char* name,
                                               uint64_t regions) {
  ASSIGN_OR_RETURN(Json j, reader.Raw(name));
  if (!j.is_array()) return absl::InvalidArgumentError(absl::StrCat(name, " must be a list"));
  std::vector<DirtyRun> runs;
  uint64_t next = 0;
  for (const Json& run : j) {
    if (!run.is_array() || run.size() != 2 || !run[0].is_number_unsigned() ||
        !run[1].is_number_unsigned()) {
      return absl::InvalidArgumentError(absl::StrCat(name, " must be [[region, count]...]"));
    }
    const uint64_t first = run[0].get<uint64_t>();
    const uint64_t count = run[1].get<uint64_t>();
    // Checked one by one so that no sum can wrap.
    if (count == 0 || first < next || first >= regions || count > regions - first) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": run [", first, ", ", count, "] is empty, out of order or ",
                       "outside the extent's ", regions, " regions"));
    }
    runs.push_back(DirtyRun{static_cast<uint32_t>(first), static_cast<uint32_t>(count)});
    next = first + count;
  }
  return runs;
}

Json RunsJson(const std::vector<DirtyRun>& runs) {
  Json out = Json::array();
  for (const DirtyRun& r : runs) out.push_back(Json::array({r.first, r.count}));
  return out;
}

void PutExtent(const ChangeExtent& at, Json& j) {
  if (!at.change.empty()) j["change"] = at.change;
  j["volume"] = absl::StrCat(at.pool, "/", at.volume);
  j["vext"] = at.vext;
}

absl::StatusOr<ChangeExtent> ReadExtent(ArgReader& reader, bool with_change) {
  ChangeExtent at;
  if (with_change) {
    ASSIGN_OR_RETURN(at.change, reader.String("change"));
    // ToJson leaves an empty change out: "" is no change, as if absent.
    if (at.change.empty()) return absl::InvalidArgumentError("change must not be empty");
  }
  ASSIGN_OR_RETURN(std::string text, reader.String("volume"));
  ASSIGN_OR_RETURN(control::VolumeName name, control::ParseVolumeName(text));
  at.pool = name.pool;
  at.volume = name.volume;
  ASSIGN_OR_RETURN(at.vext, reader.Uint("vext"));
  return at;
}

}  // namespace

Json MigrateStartRequest::ToJson() const {
  Json j{{"dst", LocationJson(dst)}, {"follow", follow}};
  PutExtent(at, j);
  return j;
}

absl::StatusOr<MigrateStartRequest> MigrateStartRequest::FromJson(const Json& j) {
  ArgReader reader(j);
  MigrateStartRequest r;
  ASSIGN_OR_RETURN(std::optional<std::string> change, reader.OptionalString("change"));
  r.at.change = change.value_or("");
  ASSIGN_OR_RETURN(ChangeExtent at, ReadExtent(reader, false));
  at.change = r.at.change;
  r.at = std::move(at);
  ASSIGN_OR_RETURN(r.dst, ReadLocation(reader, "dst"));
  ASSIGN_OR_RETURN(r.follow, reader.Bool("follow", false));
  RETURN_IF_ERROR(reader.Finish());
  return r;
}

Json FreezeRequest::ToJson() const {
  Json j{{"timeout_ms", timeout_ms}};
  PutExtent(at, j);
  return j;
}

absl::StatusOr<FreezeRequest> FreezeRequest::FromJson(const Json& j) {
  ArgReader reader(j);
  FreezeRequest r;
  ASSIGN_OR_RETURN(r.at, ReadExtent(reader, true));
  ASSIGN_OR_RETURN(r.timeout_ms, reader.Uint("timeout_ms"));
  RETURN_IF_ERROR(reader.Finish());
  if (r.timeout_ms == 0) return absl::InvalidArgumentError("timeout_ms must be positive");
  return r;
}

Json FreezeReply::ToJson() const {
  Json j{{"freeze_id", freeze_id}, {"migrating", migrating}};
  if (migrating) {
    j["ready"] = ready;
    j["region_sectors"] = region_sectors;
    j["regions"] = regions;
    j["dirty"] = RunsJson(dirty);
  }
  return j;
}

absl::StatusOr<FreezeReply> FreezeReply::FromJson(const Json& j) {
  ArgReader reader(j);
  FreezeReply r;
  ASSIGN_OR_RETURN(r.freeze_id, reader.Uint("freeze_id"));
  ASSIGN_OR_RETURN(r.migrating, reader.Bool("migrating", false));
  if (r.migrating) {
    ASSIGN_OR_RETURN(r.ready, reader.Bool("ready", false));
    ASSIGN_OR_RETURN(r.region_sectors, reader.Uint("region_sectors"));
    ASSIGN_OR_RETURN(r.regions, reader.Uint("regions"));
    if (r.region_sectors == 0 || r.regions == 0 || r.regions > kMaxRegionsPerExtent) {
      return absl::InvalidArgumentError(
          absl::StrCat("freeze reply: ", r.regions, " regions of ", r.region_sectors,
                       " sectors is not an extent"));
    }
    ASSIGN_OR_RETURN(r.dirty, ReadRuns(reader, "dirty", r.regions));
  }
  RETURN_IF_ERROR(reader.Finish());
  return r;
}

Json RecopyRequest::ToJson() const {
  Json j{{"src", LocationJson(src)},
         {"dst", LocationJson(dst)},
         {"region_sectors", region_sectors},
         {"runs", RunsJson(runs)}};
  if (round != 0) j["round"] = round;
  PutExtent(at, j);
  return j;
}

absl::StatusOr<RecopyRequest> RecopyRequest::FromJson(const Json& j) {
  ArgReader reader(j);
  RecopyRequest r;
  ASSIGN_OR_RETURN(std::optional<std::string> change, reader.OptionalString("change"));
  ASSIGN_OR_RETURN(r.at, ReadExtent(reader, false));
  r.at.change = change.value_or("");
  ASSIGN_OR_RETURN(r.src, ReadLocation(reader, "src"));
  ASSIGN_OR_RETURN(r.dst, ReadLocation(reader, "dst"));
  ASSIGN_OR_RETURN(r.region_sectors, reader.Uint("region_sectors"));
  if (r.region_sectors == 0) return absl::InvalidArgumentError("region_sectors must be positive");
  // The handler checks the runs against the extent's real size; here only
  // that they are well formed.
  ASSIGN_OR_RETURN(r.runs, ReadRuns(reader, "runs", kMaxRegionsPerExtent));
  ASSIGN_OR_RETURN(std::optional<uint64_t> round, reader.OptionalUint("round"));
  r.round = round.value_or(0);
  RETURN_IF_ERROR(reader.Finish());
  return r;
}

Json RecopyReply::ToJson() const {
  return Json{{"done", done}, {"copied_bytes", copied_bytes}, {"total_bytes", total_bytes}};
}

absl::StatusOr<RecopyReply> RecopyReply::FromJson(const Json& j) {
  ArgReader reader(j);
  RecopyReply r;
  ASSIGN_OR_RETURN(r.done, reader.Bool("done", false));
  ASSIGN_OR_RETURN(r.copied_bytes, reader.Uint("copied_bytes"));
  ASSIGN_OR_RETURN(r.total_bytes, reader.Uint("total_bytes"));
  RETURN_IF_ERROR(reader.Finish());
  return r;
}

Json ApplyRequest::ToJson() const {
  Json j{{"dst", LocationJson(dst)}};
  PutExtent(at, j);
  return j;
}

absl::StatusOr<ApplyRequest> ApplyRequest::FromJson(const Json& j) {
  ArgReader reader(j);
  ApplyRequest r;
  ASSIGN_OR_RETURN(r.at, ReadExtent(reader, true));
  ASSIGN_OR_RETURN(r.dst, ReadLocation(reader, "dst"));
  RETURN_IF_ERROR(reader.Finish());
  return r;
}

Json AbortRequest::ToJson() const {
  Json j = Json::object();
  PutExtent(at, j);
  return j;
}

absl::StatusOr<AbortRequest> AbortRequest::FromJson(const Json& j) {
  ArgReader reader(j);
  AbortRequest r;
  ASSIGN_OR_RETURN(r.at, ReadExtent(reader, true));
  RETURN_IF_ERROR(reader.Finish());
  return r;
}

Json ReleaseRequest::ToJson() const { return Json{{"change", change}}; }

absl::StatusOr<ReleaseRequest> ReleaseRequest::FromJson(const Json& j) {
  ArgReader reader(j);
  ReleaseRequest r;
  ASSIGN_OR_RETURN(r.change, reader.String("change"));
  RETURN_IF_ERROR(reader.Finish());
  return r;
}

}  // namespace cvol::daemon
