#include "cvol/map_types.h"

#include "absl/strings/str_cat.h"

namespace cvol {

std::string ToString(const Location& location) {
  return absl::StrCat(location.dev, ":", location.pext);
}

std::string ToString(const Run& run) {
  return absl::StrCat(run.vext, ":", run.dev, ":", run.pext, ":", run.count);
}

std::string ToString(const MapSetItem& item) {
  if (item.is_unmap()) return absl::StrCat(item.vext, ":-:0:", item.count);
  return absl::StrCat(item.vext, ":", item.target->dev, ":", item.target->pext,
                      ":", item.count);
}

std::ostream& operator<<(std::ostream& os, const Location& location) {
  return os << ToString(location);
}
std::ostream& operator<<(std::ostream& os, const Run& run) {
  return os << ToString(run);
}
std::ostream& operator<<(std::ostream& os, const MapSetItem& item) {
  return os << ToString(item);
}

}  // namespace cvol
