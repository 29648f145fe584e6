// One line of a device-mapper table: "<start> <len> <target> <params>",
// as given to `dmsetup create/load` and printed by `dmsetup table`.
#ifndef CVOL_DM_LINE_H_
#define CVOL_DM_LINE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cvol {

struct DmLine {
  uint64_t start = 0;   // sectors
  uint64_t length = 0;  // sectors
  std::string target_type;
  std::string params;  // words joined by single spaces

  // Accepts the "<name>: " prefix `dmsetup table` prints when listing all
  // devices. Rejects a zero length.
  static absl::StatusOr<DmLine> Parse(absl::string_view line);
  std::string Format() const;

  friend bool operator==(const DmLine&, const DmLine&) = default;
};

}  // namespace cvol

#endif  // CVOL_DM_LINE_H_
