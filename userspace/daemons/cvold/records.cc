#include "records.h"

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <stdexcept>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace cvol::daemon {
namespace {

using nlohmann::json;

// Records are written by cvold only, but etcd is shared and outlives
// versions: anything unexpected is reported as data loss, never trusted.
template <typename T, typename Fn>
absl::StatusOr<T> Decode(const std::string& text, const char* what, Fn fn) {
  try {
    json j = json::parse(text);
    T record;
    fn(j, record);
    return record;
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("malformed ", what, " record: ", e.what()));
  }
}

// nlohmann converts any number (and true) to an unsigned with a cast: -1
// would read as 2^64-1. Records hold non-negative integers only.
uint64_t U64(const json& j) {
  if (!j.is_number_unsigned()) throw std::runtime_error("expected an unsigned integer, got " + j.dump());
  return j.get<uint64_t>();
}

uint32_t U32(const json& j) {
  const uint64_t v = U64(j);
  if (v > UINT32_MAX) throw std::runtime_error("out of range: " + j.dump());
  return static_cast<uint32_t>(v);
}

json LocationJson(const Location& l) { return json::array({l.dev, l.pext}); }

Location LocationFrom(const json& j) {
  if (!j.is_array() || j.size() != 2) throw std::runtime_error("bad location " + j.dump());
  return Location{U32(j.at(0)), U64(j.at(1))};
}

}  // namespace

uint64_t WallClockNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

std::string PhaseName(MoveRecord::Phase phase) {
  return phase == MoveRecord::Phase::kCopying ? "copying" : "committing";
}

std::string EncodePool(const PoolRecord& r) {
  return json{{"name", r.name},
              {"uuid", r.uuid},
              {"extent_sectors", r.extent_sectors},
              {"alloc_gen", r.alloc_gen},
              {"created_ns", r.created_ns}}
      .dump();
}

std::string EncodePv(const PvRecord& r) {
  return json{{"uuid", r.uuid},
              {"name", r.name},
              {"pool", r.pool},
              {"slot", r.slot},
              {"extents", r.extents},
              {"data_offset", r.data_offset},
              {"device_sectors", r.device_sectors}}
      .dump();
}

std::string EncodeVolume(const VolumeRecord& r) {
  json segments = json::array();
  for (const Segment& s : r.segments) segments.push_back(json::array({s.first_vext, s.extents}));
  json runs = json::array();
  for (const Run& run : r.runs) runs.push_back(json::array({run.vext, run.dev, run.pext, run.count}));
  return json{{"pool", r.pool},
              {"name", r.name},
              {"uuid", r.uuid},
              {"extents", r.extents},
              {"generation", r.generation},
              {"segments", segments},
              {"runs", runs},
              {"created_ns", r.created_ns}}
      .dump();
}

const char* StepName(MoveRecord::Step step) {
  switch (step) {
    case MoveRecord::Step::kNone:
      return "";
    case MoveRecord::Step::kFollow:
      return "follow";
    case MoveRecord::Step::kCopy:
      return "copy";
    case MoveRecord::Step::kFreeze:
      return "freeze";
    case MoveRecord::Step::kApply:
      return "apply";
    case MoveRecord::Step::kRelease:
      return "release";
    case MoveRecord::Step::kAbort:
      return "abort";
  }
  return "";
}

std::optional<MoveRecord::Step> ParseStep(const std::string& name) {
  for (MoveRecord::Step step :
       {MoveRecord::Step::kNone, MoveRecord::Step::kFollow, MoveRecord::Step::kCopy,
        MoveRecord::Step::kFreeze, MoveRecord::Step::kApply, MoveRecord::Step::kRelease,
        MoveRecord::Step::kAbort}) {
    if (name == StepName(step)) return step;
  }
  return std::nullopt;
}

std::string EncodeMove(const MoveRecord& r) {
  json j{{"pool", r.pool},
         {"volume", r.volume},
         {"volume_uuid", r.volume_uuid},
         {"vext", r.vext},
         {"src", LocationJson(r.src)},
         {"dst", LocationJson(r.dst)},
         {"phase", PhaseName(r.phase)},
         {"started_ns", r.started_ns}};
  if (r.step != MoveRecord::Step::kNone) {
    j["step"] = StepName(r.step);
    j["epoch"] = r.epoch;
    j["excluded"] = r.excluded;
    j["followers"] = r.followers;
  }
  return j.dump();
}

absl::StatusOr<PoolRecord> DecodePool(const std::string& text) {
  return Decode<PoolRecord>(text, "pool", [](const json& j, PoolRecord& r) {
    j.at("name").get_to(r.name);
    j.at("uuid").get_to(r.uuid);
    r.extent_sectors = U64(j.at("extent_sectors"));
    r.alloc_gen = U64(j.at("alloc_gen"));
    r.created_ns = U64(j.at("created_ns"));
  });
}

absl::StatusOr<PvRecord> DecodePv(const std::string& text) {
  return Decode<PvRecord>(text, "pv", [](const json& j, PvRecord& r) {
    j.at("uuid").get_to(r.uuid);
    j.at("name").get_to(r.name);
    j.at("pool").get_to(r.pool);
    r.slot = U32(j.at("slot"));
    r.extents = U64(j.at("extents"));
    r.data_offset = U64(j.at("data_offset"));
    r.device_sectors = U64(j.at("device_sectors"));
  });
}

absl::StatusOr<VolumeRecord> DecodeVolume(const std::string& text) {
  absl::StatusOr<VolumeRecord> record =
      Decode<VolumeRecord>(text, "volume", [](const json& j, VolumeRecord& r) {
        j.at("pool").get_to(r.pool);
        j.at("name").get_to(r.name);
        j.at("uuid").get_to(r.uuid);
        r.extents = U64(j.at("extents"));
        r.generation = U64(j.at("generation"));
        const json& segments = j.at("segments");
        const json& runs = j.at("runs");
        if (!segments.is_array() || !runs.is_array()) {
          throw std::runtime_error("segments and runs must be arrays");
        }
        for (const json& s : segments) {
          if (!s.is_array() || s.size() != 2) throw std::runtime_error("bad segment " + s.dump());
          r.segments.push_back(Segment{U64(s.at(0)), U64(s.at(1))});
        }
        for (const json& run : runs) {
          if (!run.is_array() || run.size() != 4) throw std::runtime_error("bad run " + run.dump());
          r.runs.push_back(Run{U64(run.at(0)), U32(run.at(1)), U64(run.at(2)), U64(run.at(3))});
        }
        r.created_ns = U64(j.at("created_ns"));
      });
  if (!record.ok()) return record;
  if (absl::Status s = CheckVolume(*record); !s.ok()) {
    return absl::DataLossError(absl::StrCat("volume record ", record->pool, "/", record->name,
                                            ": ", s.message()));
  }
  return record;
}

absl::StatusOr<MoveRecord> DecodeMove(const std::string& text) {
  return Decode<MoveRecord>(text, "move", [](const json& j, MoveRecord& r) {
    j.at("pool").get_to(r.pool);
    j.at("volume").get_to(r.volume);
    j.at("volume_uuid").get_to(r.volume_uuid);
    r.vext = U64(j.at("vext"));
    r.src = LocationFrom(j.at("src"));
    r.dst = LocationFrom(j.at("dst"));
    const std::string phase = j.at("phase").get<std::string>();
    if (phase == "copying") {
      r.phase = MoveRecord::Phase::kCopying;
    } else if (phase == "committing") {
      r.phase = MoveRecord::Phase::kCommitting;
    } else {
      throw std::runtime_error("unknown phase '" + phase + "'");
    }
    r.started_ns = U64(j.at("started_ns"));
    if (j.contains("step")) {
      const std::string step = j.at("step").get<std::string>();
      std::optional<MoveRecord::Step> parsed = ParseStep(step);
      if (!parsed || *parsed == MoveRecord::Step::kNone) {
        throw std::runtime_error("unknown step '" + step + "'");
      }
      r.step = *parsed;
      r.epoch = U64(j.at("epoch"));
      auto hosts = [&j](const char* field, std::vector<std::string>& out) {
        // Records written before the follower list have none.
        if (!j.contains(field)) return;
        const json& list = j.at(field);
        if (!list.is_array()) throw std::runtime_error(std::string(field) + " is not a list");
        for (const json& host : list) out.push_back(host.get<std::string>());
      };
      hosts("excluded", r.excluded);
      hosts("followers", r.followers);
    }
  });
}

absl::Status CheckVolume(const VolumeRecord& r) {
  uint64_t next = 0;
  for (const Segment& s : r.segments) {
    if (s.first_vext != next || s.extents == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("segment at extent ", s.first_vext, " does not follow extent ", next));
    }
    // next <= r.extents holds here, so this cannot wrap; a sum that
    // wrapped past 2^64 could come back to r.extents.
    if (s.extents > r.extents - next) {
      return absl::InvalidArgumentError(absl::StrCat("segment at extent ", s.first_vext, " of ",
                                                     s.extents, " extents runs past the volume's ",
                                                     r.extents));
    }
    next += s.extents;
  }
  if (next != r.extents) {
    return absl::InvalidArgumentError(
        absl::StrCat("segments cover ", next, " extents, the volume has ", r.extents));
  }
  std::vector<Run> runs = r.runs;
  std::sort(runs.begin(), runs.end(),
            [](const Run& a, const Run& b) { return a.vext < b.vext; });
  uint64_t end = 0;
  for (const Run& run : runs) {
    if (run.count == 0 || run.vext < end || run.vext > r.extents ||
        run.count > r.extents - run.vext) {
      return absl::InvalidArgumentError(
          absl::StrCat("run ", ToString(run), " overlaps another or lies outside the volume"));
    }
    end = run.vext + run.count;
  }
  return absl::OkStatus();
}

}  // namespace cvol::daemon
