#include "cvol/status.h"

#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cvol/colon_fields.h"
#include "cvol/decimal.h"
#include "cvol/status_macros.h"
#include "cvol/word_reader.h"
#include "linux/dm-cvol.h"

namespace cvol {
namespace {

absl::StatusOr<DeviceHealth> ParseHealth(char c, absl::string_view token) {
  switch (c) {
    case 'A': return DeviceHealth::kAlive;
    case 'D': return DeviceHealth::kIoErrors;
    case 'W': return DeviceHealth::kDestinationWriteErrors;
    case '-': return DeviceHealth::kEmptySlot;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "health \"", token, "\": unknown character '", absl::string_view(&c, 1),
          "' (expected A, D, W or -)"));
  }
}

absl::Status Invalid(absl::string_view kind, absl::string_view token, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(kind, " \"", token, "\": ", why));
}

// A count of entries that follow; more than there are words left is
// refused before anything is reserved.
absl::StatusOr<uint64_t> NextEntryCount(WordReader& reader, absl::string_view what,
                                        uint64_t max) {
  ASSIGN_OR_RETURN(uint64_t n, reader.NextDecimal(what, max));
  if (n > reader.Remaining()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " ", n, ": only ", reader.Remaining(), " words follow"));
  }
  return n;
}

absl::StatusOr<FreezeStatus> ParseFreeze(absl::string_view token, uint64_t total_extents) {
  constexpr absl::string_view kKind = "status freeze";
  const size_t last = token.rfind(':');
  if (last == absl::string_view::npos) {
    return Invalid(kKind, token, "expected <id>:<vext>:<count>:<draining|drained>");
  }
  const absl::string_view state_word = token.substr(last + 1);
  FreezeStatus freeze;
  if (state_word == CVOL_FREEZE_DRAINING) {
    freeze.state = FreezeState::kDraining;
  } else if (state_word == CVOL_FREEZE_DRAINED) {
    freeze.state = FreezeState::kDrained;
  } else {
    return Invalid(kKind, token,
                   absl::StrCat("state \"", state_word, "\": expected draining or drained"));
  }
  ASSIGN_OR_RETURN(std::vector<uint64_t> f,
                   ParseColonFields(kKind, token.substr(0, last), {"id", "vext", "count"}));
  freeze.id = f[0];
  freeze.vext = f[1];
  freeze.count = f[2];
  if (freeze.count == 0) return Invalid(kKind, token, "count must be at least 1");
  if (freeze.vext > total_extents || freeze.count > total_extents - freeze.vext) {
    return Invalid(kKind, token,
                   absl::StrCat("range runs past the volume's ", total_extents, " extents"));
  }
  return freeze;
}

// <vext>:<state>:<copied>/<regions>:<errors>. All of it is checked before
// anything is returned, so a caller never sees half an entry.
absl::StatusOr<MigrationStatus> ParseMigration(absl::string_view token,
                                               uint64_t total_extents) {
  constexpr absl::string_view kKind = "status migration";
  const std::vector<absl::string_view> parts = absl::StrSplit(token, ':');
  const std::vector<absl::string_view> progress =
      parts.size() == 4 ? absl::StrSplit(parts[2], '/') : std::vector<absl::string_view>{};
  if (parts.size() != 4 || progress.size() != 2) {
    return Invalid(kKind, token, "expected <vext>:<state>:<copied>/<regions>:<errors>");
  }
  MigrationStatus m;
  absl::StatusOr<uint64_t> vext = ParseDecimal(parts[0], "vext");
  if (!vext.ok()) return Invalid(kKind, token, vext.status().message());
  if (*vext >= total_extents) {
    return Invalid(kKind, token, absl::StrCat("vext beyond the volume's ", total_extents,
                                              " extents"));
  }
  m.vext = *vext;
  absl::StatusOr<MigrationState> state = ParseMigrationState(parts[1]);
  if (!state.ok()) return Invalid(kKind, token, state.status().message());
  m.state = *state;
  absl::StatusOr<uint64_t> copied = ParseDecimal(progress[0], "copied regions");
  if (!copied.ok()) return Invalid(kKind, token, copied.status().message());
  absl::StatusOr<uint64_t> regions = ParseDecimal(progress[1], "regions");
  if (!regions.ok()) return Invalid(kKind, token, regions.status().message());
  // An extent is at least one region (region_sectors divides it).
  if (*regions == 0) return Invalid(kKind, token, "an extent has at least one region");
  if (*copied > *regions) return Invalid(kKind, token, "more regions copied than exist");
  absl::StatusOr<uint64_t> errors = ParseDecimal(parts[3], "errors");
  if (!errors.ok()) return Invalid(kKind, token, errors.status().message());
  m.copied_regions = *copied;
  m.regions = *regions;
  m.errors = *errors;
  return m;
}

// The words after the health characters, for a target that may
// (`allow_migrations`, 1.2) or may not (1.1) report migrations.
absl::StatusOr<StatusV1_1> ParseV1_1(WordReader& reader, uint64_t total_extents,
                                     bool allow_migrations) {
  StatusV1_1 out;
  ASSIGN_OR_RETURN(uint64_t freezes, NextEntryCount(reader, "number of freezes", CVOL_MAX_FREEZES));
  for (uint64_t i = 0; i < freezes; ++i) {
    ASSIGN_OR_RETURN(FreezeStatus f, ParseFreeze(*reader.Next("freeze"), total_extents));
    out.freezes.push_back(f);
  }
  // CVOL_MAX_MIGRATIONS is a hard cap: the target keeps its migrations,
  // ending ones included, in that many slots.
  ASSIGN_OR_RETURN(uint64_t migrations,
                   NextEntryCount(reader, "number of migrations", CVOL_MAX_MIGRATIONS));
  if (migrations != 0 && !allow_migrations) {
    return absl::InvalidArgumentError(absl::StrCat(
        "number of migrations ", migrations, ": a target 1.1 status has none"));
  }
  // The target refuses a second migration of a migrating extent, so a
  // repeated vext means the line is not what the target printed.
  absl::flat_hash_set<uint64_t> vexts;
  for (uint64_t i = 0; i < migrations; ++i) {
    const absl::string_view token = *reader.Next("migration");
    ASSIGN_OR_RETURN(MigrationStatus m, ParseMigration(token, total_extents));
    if (!vexts.insert(m.vext).second) {
      return Invalid("status migration", token,
                     absl::StrCat("a second migration of vext ", m.vext));
    }
    out.migrations.push_back(m);
  }
  ASSIGN_OR_RETURN(uint64_t seq, reader.NextDecimal("event_seq"));
  ASSIGN_OR_RETURN(uint64_t lost, reader.NextDecimal("events_lost"));
  out.event_seq = seq;
  out.events_lost = lost;
  ASSIGN_OR_RETURN(absl::string_view lease, reader.Next("lease state"));
  if (lease == CVOL_LEASE_STATE_NONE) {
    out.lease = LeaseState::kNone;
  } else if (lease == CVOL_LEASE_STATE_ARMED) {
    out.lease = LeaseState::kArmed;
  } else if (lease == CVOL_LEASE_STATE_FENCED) {
    out.lease = LeaseState::kFenced;
  } else {
    return Invalid("lease state", lease, "expected none, armed or fenced");
  }
  return out;
}

}  // namespace

StatusFormat StatusFormatOf(uint32_t major, uint32_t minor) {
  if (major == 1 && minor == 0) return StatusFormat::kV1_0;
  if (major == 1 && minor == 1) return StatusFormat::kV1_1;
  // Later 1.x versions only append words, which land in trailing_fields.
  if (major == 1) return StatusFormat::kV1_2;
  return StatusFormat::kAny;  // a major version this library predates
}

const char* FreezeStateName(FreezeState state) {
  return state == FreezeState::kDrained ? CVOL_FREEZE_DRAINED : CVOL_FREEZE_DRAINING;
}

const char* LeaseStateName(LeaseState state) {
  switch (state) {
    case LeaseState::kNone: return CVOL_LEASE_STATE_NONE;
    case LeaseState::kArmed: return CVOL_LEASE_STATE_ARMED;
    case LeaseState::kFenced: return CVOL_LEASE_STATE_FENCED;
  }
  return "?";
}

const char* MigrationStateName(MigrationState state) {
  switch (state) {
    case MigrationState::kStart: return CVOL_MIG_STATE_START;
    case MigrationState::kCopy: return CVOL_MIG_STATE_COPY;
    case MigrationState::kReady: return CVOL_MIG_STATE_READY;
    case MigrationState::kFailed: return CVOL_MIG_STATE_FAILED;
    case MigrationState::kAbort: return CVOL_MIG_STATE_ABORT;
  }
  return "?";
}

absl::StatusOr<MigrationState> ParseMigrationState(absl::string_view word) {
  for (MigrationState state : {MigrationState::kStart, MigrationState::kCopy,
                               MigrationState::kReady, MigrationState::kFailed,
                               MigrationState::kAbort}) {
    if (word == MigrationStateName(state)) return state;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "migration state \"", word, "\": expected start, copy, ready, failed or abort"));
}

absl::StatusOr<TargetStatus> TargetStatus::Parse(absl::string_view info, StatusFormat format) {
  WordReader reader(info);
  TargetStatus status;

  ASSIGN_OR_RETURN(uint64_t gen, reader.NextDecimal("map_gen"));
  status.map_gen = gen;

  ASSIGN_OR_RETURN(absl::string_view extents, reader.Next("<mapped>/<total>"));
  const std::vector<absl::string_view> parts = absl::StrSplit(extents, '/');
  if (parts.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extents \"", extents, "\": expected <mapped>/<total>"));
  }
  ASSIGN_OR_RETURN(uint64_t mapped, ParseDecimal(parts[0], "mapped extents"));
  ASSIGN_OR_RETURN(uint64_t total, ParseDecimal(parts[1], "total extents"));
  if (mapped > total) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extents \"", extents, "\": more extents mapped than exist"));
  }
  status.mapped_extents = mapped;
  status.total_extents = total;

  ASSIGN_OR_RETURN(absl::string_view health, reader.Next("health characters"));
  for (char c : health) {
    ASSIGN_OR_RETURN(DeviceHealth h, ParseHealth(c, health));
    status.health.push_back(h);
  }

  switch (format) {
    case StatusFormat::kV1_0:
      break;
    case StatusFormat::kV1_1:
    case StatusFormat::kV1_2: {
      ASSIGN_OR_RETURN(StatusV1_1 v11,
                       ParseV1_1(reader, status.total_extents, format == StatusFormat::kV1_2));
      status.v1_1 = std::move(v11);
      break;
    }
    case StatusFormat::kAny: {
      if (reader.AtEnd()) break;
      // On a copy, so that words which are not 1.1 fields stay unconsumed.
      WordReader attempt = reader;
      absl::StatusOr<StatusV1_1> v11 =
          ParseV1_1(attempt, status.total_extents, /*allow_migrations=*/true);
      if (v11.ok()) {
        status.v1_1 = std::move(*v11);
        reader = attempt;
      }
      break;
    }
  }

  for (absl::string_view word : reader.Rest()) status.trailing_fields.emplace_back(word);
  return status;
}

}  // namespace cvol
