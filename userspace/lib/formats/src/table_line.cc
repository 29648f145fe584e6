#include "cvol/table_line.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cvol/run_codec.h"
#include "cvol/status_macros.h"
#include "cvol/word_reader.h"
#include "linux/dm-cvol.h"

namespace cvol {
namespace {

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

bool IsUuidChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
         c == '_' || c == '-';
}

absl::Status ValidateUuid(absl::string_view uuid) {
  if (uuid.empty() || uuid.size() > CVOL_UUID_MAX) {
    return Invalid(absl::StrCat("vol_uuid \"", uuid, "\": must be 1 to ",
                                CVOL_UUID_MAX, " characters long"));
  }
  for (char c : uuid) {
    if (!IsUuidChar(c)) {
      return Invalid(absl::StrCat("vol_uuid \"", uuid,
                                  "\": only letters, digits, '.', '_' and '-' "
                                  "are allowed"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRun(const Run& run, const std::vector<DeviceSlot>& devices) {
  const std::string token = FormatRun(run);
  if (run.count == 0) {
    return Invalid(absl::StrCat("run \"", token, "\": count must be at least 1"));
  }
  if (run.vext >= CVOL_MAX_EXTENTS || run.count > CVOL_MAX_EXTENTS - run.vext) {
    return Invalid(absl::StrCat("run \"", token, "\": extends past the maximum of ",
                                CVOL_MAX_EXTENTS, " extents per volume"));
  }
  if (run.pext > CVOL_MAX_PEXT || run.count - 1 > CVOL_MAX_PEXT - run.pext) {
    return Invalid(absl::StrCat("run \"", token,
                                "\": physical extent beyond the maximum ",
                                CVOL_MAX_PEXT));
  }
  if (run.dev >= devices.size()) {
    return Invalid(absl::StrCat("run \"", token, "\": device index ", run.dev,
                                " out of range (", devices.size(), " devices)"));
  }
  if (devices[run.dev].is_empty()) {
    return Invalid(absl::StrCat("run \"", token, "\": device slot ", run.dev,
                                " is empty"));
  }
  return absl::OkStatus();
}

// Reads one feature (its name already consumed) into `line`.
absl::Status ParseFeature(absl::string_view name, WordReader& reader,
                          TableLine& line) {
  auto duplicate = [&] {
    return Invalid(absl::StrCat("feature \"", name, "\" given twice"));
  };
  auto read_number = [&](std::optional<uint64_t>& field) -> absl::Status {
    if (field.has_value()) return duplicate();
    ASSIGN_OR_RETURN(uint64_t value, reader.NextDecimal(name));
    field = value;
    return absl::OkStatus();
  };
  if (name == CVOL_FEAT_MAP_GEN) return read_number(line.map_gen);
  if (name == CVOL_FEAT_REGION_SECTORS) return read_number(line.region_sectors);
  if (name == CVOL_FEAT_FREEZE_TIMEOUT_MS) return read_number(line.freeze_timeout_ms);
  auto read_flag = [&](bool& field) -> absl::Status {
    if (field) return duplicate();
    field = true;
    return absl::OkStatus();
  };
  if (name == CVOL_FEAT_UNMAPPED_ZERO) return read_flag(line.unmapped_zero);
  if (name == CVOL_FEAT_FENCED) return read_flag(line.fenced);
  if (name == CVOL_FEAT_MAP_RUNS) {
    if (line.map_runs.has_value()) return duplicate();
    ASSIGN_OR_RETURN(uint64_t count, reader.NextDecimal("map_runs <#runs>"));
    if (count > reader.Remaining()) {
      return Invalid(absl::StrCat("map_runs <#runs> is ", count, " but only ",
                                  reader.Remaining(), " words follow"));
    }
    std::vector<Run>& runs = line.map_runs.emplace();
    runs.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      ASSIGN_OR_RETURN(absl::string_view token, reader.Next("run"));
      ASSIGN_OR_RETURN(Run run, ParseRun(token));
      runs.push_back(run);
    }
    return absl::OkStatus();
  }
  return Invalid(absl::StrCat("unknown feature \"", name, "\""));
}

}  // namespace

absl::StatusOr<TableLine> TableLine::Parse(absl::string_view params) {
  WordReader reader(params);
  TableLine line;

  ASSIGN_OR_RETURN(absl::string_view uuid, reader.Next("vol_uuid"));
  line.vol_uuid = std::string(uuid);

  ASSIGN_OR_RETURN(uint64_t extent_sectors, reader.NextDecimal("extent_sectors"));
  line.extent_sectors = extent_sectors;

  ASSIGN_OR_RETURN(uint64_t dev_count, reader.NextDecimal("#devs", CVOL_MAX_DEVS));
  for (uint64_t i = 0; i < dev_count; ++i) {
    ASSIGN_OR_RETURN(absl::string_view path, reader.Next(absl::StrCat("device ", i, " path")));
    ASSIGN_OR_RETURN(uint64_t offset, reader.NextDecimal(absl::StrCat("device ", i, " offset")));
    DeviceSlot slot;
    if (path != "-") slot.path = std::string(path);
    slot.offset = offset;
    line.devices.push_back(std::move(slot));
  }

  if (!reader.AtEnd()) {
    ASSIGN_OR_RETURN(uint64_t feature_args, reader.NextDecimal("#feature_args"));
    if (feature_args != reader.Remaining()) {
      return Invalid(absl::StrCat("#feature_args is ", feature_args, " but ",
                                  reader.Remaining(), " words follow"));
    }
    while (!reader.AtEnd()) {
      ASSIGN_OR_RETURN(absl::string_view name, reader.Next("feature"));
      if (absl::Status s = ParseFeature(name, reader, line); !s.ok()) return s;
    }
  }

  if (absl::Status s = line.Validate(); !s.ok()) return s;
  return line;
}

absl::Status TableLine::Validate() const {
  if (absl::Status s = ValidateUuid(vol_uuid); !s.ok()) return s;
  if (extent_sectors < CVOL_MIN_EXTENT_SECTORS ||
      extent_sectors > CVOL_MAX_EXTENT_SECTORS ||
      extent_sectors % CVOL_MIN_EXTENT_SECTORS != 0) {
    return Invalid(absl::StrCat("extent_sectors \"", extent_sectors,
                                "\": must be a multiple of ", CVOL_MIN_EXTENT_SECTORS,
                                " between ", CVOL_MIN_EXTENT_SECTORS, " and ",
                                CVOL_MAX_EXTENT_SECTORS));
  }
  if (devices.empty() || devices.size() > CVOL_MAX_DEVS) {
    return Invalid(absl::StrCat("#devs \"", devices.size(), "\": must be 1 to ",
                                CVOL_MAX_DEVS));
  }
  for (size_t i = 0; i < devices.size(); ++i) {
    const DeviceSlot& slot = devices[i];
    if (slot.offset % CVOL_MIN_EXTENT_SECTORS != 0) {
      return Invalid(absl::StrCat("device ", i, " offset \"", slot.offset,
                                  "\": must be a multiple of ",
                                  CVOL_MIN_EXTENT_SECTORS, " sectors"));
    }
    if (slot.is_empty()) {
      if (slot.offset != 0) {
        return Invalid(absl::StrCat("device ", i, " offset \"", slot.offset,
                                    "\": an empty slot must have offset 0"));
      }
      continue;
    }
    const std::string& path = *slot.path;
    bool has_space = false;
    for (char c : path) has_space |= absl::ascii_isspace(static_cast<unsigned char>(c));
    if (path.empty() || path == "-" || has_space) {
      return Invalid(absl::StrCat("device ", i, " path \"", path,
                                  "\": must be a non-empty word (use no path for "
                                  "an empty slot)"));
    }
  }
  if (region_sectors.has_value() &&
      (*region_sectors == 0 || extent_sectors % *region_sectors != 0)) {
    return Invalid(absl::StrCat("region_sectors \"", *region_sectors,
                                "\": must divide extent_sectors (", extent_sectors, ")"));
  }
  if (freeze_timeout_ms.has_value() &&
      (*freeze_timeout_ms == 0 || *freeze_timeout_ms > CVOL_MAX_FREEZE_TIMEOUT_MS)) {
    return Invalid(absl::StrCat("freeze_timeout_ms \"", *freeze_timeout_ms,
                                "\": must be between 1 and ",
                                CVOL_MAX_FREEZE_TIMEOUT_MS));
  }
  if (map_runs.has_value()) {
    for (const Run& run : *map_runs) {
      if (absl::Status s = ValidateRun(run, devices); !s.ok()) return s;
    }
    if (absl::Status s = CheckRunsDisjoint(*map_runs); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string TableLine::Format() const {
  std::string text = absl::StrCat(vol_uuid, " ", extent_sectors, " ", devices.size());
  for (const DeviceSlot& slot : devices) {
    absl::StrAppend(&text, " ", slot.path.value_or("-"), " ", slot.offset);
  }
  std::vector<std::string> features;
  if (map_gen.has_value()) {
    features.push_back(CVOL_FEAT_MAP_GEN);
    features.push_back(absl::StrCat(*map_gen));
  }
  if (map_runs.has_value()) {
    features.push_back(CVOL_FEAT_MAP_RUNS);
    features.push_back(absl::StrCat(map_runs->size()));
    for (const Run& run : *map_runs) features.push_back(FormatRun(run));
  }
  if (region_sectors.has_value()) {
    features.push_back(CVOL_FEAT_REGION_SECTORS);
    features.push_back(absl::StrCat(*region_sectors));
  }
  if (freeze_timeout_ms.has_value()) {
    features.push_back(CVOL_FEAT_FREEZE_TIMEOUT_MS);
    features.push_back(absl::StrCat(*freeze_timeout_ms));
  }
  if (unmapped_zero) features.push_back(CVOL_FEAT_UNMAPPED_ZERO);
  if (fenced) features.push_back(CVOL_FEAT_FENCED);
  if (!features.empty()) {
    absl::StrAppend(&text, " ", features.size(), " ", absl::StrJoin(features, " "));
  }
  return text;
}

}  // namespace cvol
