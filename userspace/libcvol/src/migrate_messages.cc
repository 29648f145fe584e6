#include "cvol/migrate_messages.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
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

absl::StatusOr<std::string> FormatMigrateStart(uint64_t vext, const Location& dst) {
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
  return absl::StrCat(CVOL_MSG_MIGRATE_START, " ", vext, " ", dst.dev, " ", dst.pext);
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
  absl::StatusOr<uint64_t> gen = reader.NextDecimal("migrate_commit response generation");
  if (!gen.ok()) return gen.status();
  if (!reader.AtEnd()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "migrate_commit response \"", response, "\": expected only the new generation"));
  }
  return *gen;
}

absl::StatusOr<MigrateThrottle> ParseMigrateThrottleResponse(absl::string_view response) {
  WordReader reader(response);
  absl::StatusOr<uint64_t> regions =
      reader.NextDecimal("migrate_throttle response regions", CVOL_MAX_COPY_REGIONS);
  if (!regions.ok()) return regions.status();
  absl::StatusOr<uint64_t> migrations =
      reader.NextDecimal("migrate_throttle response migrations", CVOL_MAX_MIGRATIONS);
  if (!migrations.ok()) return migrations.status();
  if (!reader.AtEnd()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "migrate_throttle response \"", response, "\": expected only <regions> <migrations>"));
  }
  // The target never runs with a bound of 0: it would stop every copy.
  if (*regions == 0 || *migrations == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "migrate_throttle response \"", response, "\": a bound of 0"));
  }
  return MigrateThrottle{static_cast<uint32_t>(*regions), static_cast<uint32_t>(*migrations)};
}

}  // namespace cvol
