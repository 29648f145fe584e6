#include "cvol/migrate_messages.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cvol/colon_fields.h"
#include "cvol/status_macros.h"
#include "cvol/word_reader.h"
#include "linux/dm-cvol.h"

namespace cvol {
namespace {

// `value` in [min, max], or an error naming it as the message argument.
absl::Status CheckRange(absl::string_view verb, absl::string_view what, uint64_t value,
                        uint64_t min, uint64_t max) {
  if (value < min || value > max) {
    return absl::OutOfRangeError(absl::StrCat(verb, " ", what, " ", value,
                                              ": out of range (", min, "-", max, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckVext(absl::string_view verb, uint64_t vext) {
  return CheckRange(verb, "vext", vext, 0, CVOL_MAX_EXTENTS - 1);
}

}  // namespace

absl::StatusOr<std::string> FormatMigrateStart(uint64_t vext, const Location& dst,
                                               MigrateMode mode) {
  if (absl::Status s = CheckVext(CVOL_MSG_MIGRATE_START, vext); !s.ok()) return s;
  if (absl::Status s = CheckRange(CVOL_MSG_MIGRATE_START, "dst_dev", dst.dev, 0,
                                  CVOL_MAX_DEVS - 1);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange(CVOL_MSG_MIGRATE_START, "dst_pext", dst.pext, 0,
                                  CVOL_MAX_PEXT);
      !s.ok()) {
    return s;
  }
  std::string text = absl::StrCat(CVOL_MSG_MIGRATE_START, " ", vext, " ", dst.dev, " ", dst.pext);
  if (mode == MigrateMode::kFollow) absl::StrAppend(&text, " ", CVOL_ARG_FOLLOW);
  return text;
}

absl::StatusOr<std::string> FormatMigrateDirty(uint64_t vext, bool clear) {
  if (absl::Status s = CheckVext(CVOL_MSG_MIGRATE_DIRTY, vext); !s.ok()) return s;
  std::string text = absl::StrCat(CVOL_MSG_MIGRATE_DIRTY, " ", vext);
  if (clear) absl::StrAppend(&text, " ", CVOL_ARG_CLEAR);
  return text;
}

absl::StatusOr<std::string> FormatMigrateRecopy(uint64_t vext,
                                                const std::vector<DirtyRun>& runs) {
  if (absl::Status s = CheckVext(CVOL_MSG_MIGRATE_RECOPY, vext); !s.ok()) return s;
  if (runs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(CVOL_MSG_MIGRATE_RECOPY, ": no regions to copy"));
  }
  std::string text = absl::StrCat(CVOL_MSG_MIGRATE_RECOPY, " ", vext);
  for (const DirtyRun& run : runs) {
    if (run.count == 0 || run.first >= CVOL_MAX_REGIONS ||
        run.count > CVOL_MAX_REGIONS - run.first) {
      return absl::InvalidArgumentError(absl::StrCat(CVOL_MSG_MIGRATE_RECOPY, ": regions ",
                                                     run.first, "+", run.count,
                                                     " are not a run inside ", CVOL_MAX_REGIONS));
    }
    absl::StrAppend(&text, " ", run.first, ":", run.count);
  }
  return text;
}

absl::StatusOr<std::string> FormatMigrateCommit(uint64_t vext) {
  if (absl::Status s = CheckVext(CVOL_MSG_MIGRATE_COMMIT, vext); !s.ok()) return s;
  return absl::StrCat(CVOL_MSG_MIGRATE_COMMIT, " ", vext);
}

absl::StatusOr<std::string> FormatMigrateAbort(uint64_t vext) {
  if (absl::Status s = CheckVext(CVOL_MSG_MIGRATE_ABORT, vext); !s.ok()) return s;
  return absl::StrCat(CVOL_MSG_MIGRATE_ABORT, " ", vext);
}

absl::StatusOr<std::string> FormatMigrateThrottle(uint64_t regions_in_flight,
                                                  std::optional<uint64_t> max_migrations) {
  if (absl::Status s = CheckRange(CVOL_MSG_MIGRATE_THROTTLE, "regions_in_flight",
                                  regions_in_flight, 1, CVOL_MAX_COPY_REGIONS);
      !s.ok()) {
    return s;
  }
  std::string text = absl::StrCat(CVOL_MSG_MIGRATE_THROTTLE, " ", regions_in_flight);
  if (max_migrations) {
    if (absl::Status s = CheckRange(CVOL_MSG_MIGRATE_THROTTLE, "max_migrations",
                                    *max_migrations, 1, CVOL_MAX_MIGRATIONS);
        !s.ok()) {
      return s;
    }
    absl::StrAppend(&text, " ", *max_migrations);
  }
  return text;
}

absl::StatusOr<uint64_t> ParseMigrateCommitResponse(absl::string_view response) {
  WordReader reader(response);
  ASSIGN_OR_RETURN(uint64_t gen, reader.NextDecimal("migrate_commit response generation"));
  if (!reader.AtEnd()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "migrate_commit response \"", response, "\": expected only the new generation"));
  }
  return gen;
}

absl::StatusOr<MigrateThrottle> ParseMigrateThrottleResponse(absl::string_view response) {
  WordReader reader(response);
  ASSIGN_OR_RETURN(uint64_t regions,
                   reader.NextDecimal("migrate_throttle response regions", CVOL_MAX_COPY_REGIONS));
  ASSIGN_OR_RETURN(uint64_t migrations,
                   reader.NextDecimal("migrate_throttle response migrations", CVOL_MAX_MIGRATIONS));
  if (!reader.AtEnd()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "migrate_throttle response \"", response, "\": expected only <regions> <migrations>"));
  }
  // The target never runs with a bound of 0: it would stop every copy.
  if (regions == 0 || migrations == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "migrate_throttle response \"", response, "\": a bound of 0"));
  }
  return MigrateThrottle{static_cast<uint32_t>(regions), static_cast<uint32_t>(migrations)};
}

absl::StatusOr<MigrateDirty> ParseMigrateDirtyResponse(absl::string_view response) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("migrate_dirty response \"", response, "\": ", why));
  };
  WordReader reader(response);
  ASSIGN_OR_RETURN(
      uint64_t region_sectors,
      reader.NextDecimal("migrate_dirty response region_sectors", CVOL_MAX_EXTENT_SECTORS));
  if (region_sectors == 0 || region_sectors % CVOL_MIN_EXTENT_SECTORS != 0) {
    return bad("region_sectors is not a multiple of 8");
  }
  ASSIGN_OR_RETURN(uint64_t nr_regions,
                   reader.NextDecimal("migrate_dirty response nr_regions", CVOL_MAX_REGIONS));
  if (nr_regions == 0) return bad("an extent of 0 regions");

  MigrateDirty dirty{region_sectors, static_cast<uint32_t>(nr_regions), {}};
  uint64_t end = 0;  // one past the previous run
  while (!reader.AtEnd()) {
    ASSIGN_OR_RETURN(absl::string_view token, reader.Next("migrate_dirty run"));
    ASSIGN_OR_RETURN(std::vector<uint64_t> f,
                     ParseColonFields("migrate_dirty run", token, {"first", "count"}));
    const uint64_t first = f[0], count = f[1];
    if (count == 0) return bad(absl::StrCat("run ", token, " is empty"));
    if (first >= dirty.nr_regions || count > dirty.nr_regions - first) {
      return bad(absl::StrCat("run ", token, " goes beyond the ", dirty.nr_regions, " regions"));
    }
    // Runs are maximal: the next one starts after at least one clean region.
    if (!dirty.runs.empty() && first <= end) {
      return bad(absl::StrCat("run ", token, " overlaps, touches or precedes the one before"));
    }
    dirty.runs.push_back(DirtyRun{static_cast<uint32_t>(first), static_cast<uint32_t>(count)});
    end = first + count;
  }
  return dirty;
}

}  // namespace cvol
