// Value types shared by extent maps, table lines and messages.
#ifndef CVOL_MAP_TYPES_H_
#define CVOL_MAP_TYPES_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace cvol {

// Where one virtual extent lives: device slot index and physical extent
// number on that device (counted from the device's data offset).
struct Location {
  uint32_t dev = 0;
  uint64_t pext = 0;

  friend bool operator==(const Location&, const Location&) = default;
};

// `count` consecutive virtual extents starting at `vext`, mapped to
// consecutive physical extents starting at `pext` on device `dev`.
// Text form: <vext>:<dev>:<pext>:<count>.
struct Run {
  uint64_t vext = 0;
  uint32_t dev = 0;
  uint64_t pext = 0;
  uint64_t count = 0;

  friend bool operator==(const Run&, const Run&) = default;
};

// One item of a map_set message: maps `count` virtual extents starting at
// `vext` to consecutive physical extents starting at `*target`, or unmaps
// them when `target` is empty.
// Text form: <vext>:<dev>:<pext>[:<count>] or <vext>:-:0[:<count>].
struct MapSetItem {
  uint64_t vext = 0;
  uint64_t count = 0;
  std::optional<Location> target;

  bool is_unmap() const { return !target.has_value(); }
  friend bool operator==(const MapSetItem&, const MapSetItem&) = default;
};

// Human-readable forms, also used by GoogleTest to print values.
std::string ToString(const Location& location);
std::string ToString(const Run& run);
std::string ToString(const MapSetItem& item);
std::ostream& operator<<(std::ostream& os, const Location& location);
std::ostream& operator<<(std::ostream& os, const Run& run);
std::ostream& operator<<(std::ostream& os, const MapSetItem& item);

}  // namespace cvol

#endif  // CVOL_MAP_TYPES_H_
