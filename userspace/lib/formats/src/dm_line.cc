#include "cvol/dm_line.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cvol/status_macros.h"
#include "cvol/word_reader.h"

namespace cvol {

absl::StatusOr<DmLine> DmLine::Parse(absl::string_view line) {
  WordReader reader(line);
  std::vector<absl::string_view> words = reader.Rest();
  if (!words.empty() && absl::EndsWith(words[0], ":")) {
    reader.Next("device name").IgnoreError();  // "<name>:" from `dmsetup table`
  }
  DmLine dm;
  ASSIGN_OR_RETURN(uint64_t start, reader.NextDecimal("start sector"));
  ASSIGN_OR_RETURN(uint64_t length, reader.NextDecimal("length"));
  if (length == 0) return absl::InvalidArgumentError("length \"0\": must be at least 1");
  ASSIGN_OR_RETURN(absl::string_view type, reader.Next("target type"));
  dm.start = start;
  dm.length = length;
  dm.target_type = std::string(type);
  dm.params = absl::StrJoin(reader.Rest(), " ");
  return dm;
}

std::string DmLine::Format() const {
  std::string text = absl::StrCat(start, " ", length, " ", target_type);
  if (!params.empty()) absl::StrAppend(&text, " ", params);
  return text;
}

}  // namespace cvol
