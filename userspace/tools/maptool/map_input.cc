#include "map_input.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cvol/run_codec.h"
#include "cvol/status_macros.h"
#include "cvol/word_reader.h"
#include "linux/dm-cvol.h"

namespace cvol::maptool {
namespace {

uint64_t EndOfRuns(const std::vector<Run>& runs) {
  uint64_t end = 0;
  for (const Run& run : runs) end = std::max(end, run.vext + run.count);
  return end;
}

absl::StatusOr<MapInput> FromRuns(const std::vector<Run>& runs,
                                  std::optional<uint64_t> extents) {
  ASSIGN_OR_RETURN(ExtentMap map, ExtentMap::FromRuns(extents.value_or(EndOfRuns(runs)), runs));
  return MapInput{std::move(map), std::nullopt, std::nullopt};
}

bool LooksLikeDmLine(const std::vector<absl::string_view>& words) {
  size_t type = 2;
  if (!words.empty() && !words[0].empty() && words[0].back() == ':') type = 3;
  return words.size() > type && words[type] == CVOL_TARGET_NAME;
}

}  // namespace

absl::StatusOr<std::string> ReadInput(const std::string& path) {
  std::ostringstream content;
  if (path == "-") {
    content << std::cin.rdbuf();
  } else {
    std::ifstream file(path);
    if (!file) return absl::NotFoundError(absl::StrCat("cannot open \"", path, "\""));
    content << file.rdbuf();
  }
  return content.str();
}

absl::StatusOr<MapInput> ParseMapInput(absl::string_view text,
                                       std::optional<uint64_t> extents) {
  const std::vector<absl::string_view> words = WordReader(text).Rest();
  if (words.empty() || (absl::StrContains(words[0], ':') && !LooksLikeDmLine(words))) {
    std::vector<Run> runs;
    for (absl::string_view word : words) {
      ASSIGN_OR_RETURN(Run run, ParseRun(word));
      runs.push_back(run);
    }
    return FromRuns(runs, extents);
  }

  MapInput input;
  absl::string_view params = text;
  std::string joined;
  if (LooksLikeDmLine(words)) {
    ASSIGN_OR_RETURN(DmLine dm, DmLine::Parse(text));
    input.dm_line = dm;
    joined = dm.params;
    params = joined;
  }
  ASSIGN_OR_RETURN(TableLine table, TableLine::Parse(params));
  input.table = table;

  const std::vector<Run> runs = table.map_runs.value_or(std::vector<Run>{});
  if (!extents.has_value() && input.dm_line.has_value()) {
    const uint64_t length = input.dm_line->length;
    const uint64_t es = table.extent_sectors;
    extents = length / es + (length % es != 0 ? 1 : 0);
  }
  ASSIGN_OR_RETURN(MapInput from_runs, FromRuns(runs, extents));
  input.map = std::move(from_runs.map);
  return input;
}

}  // namespace cvol::maptool
