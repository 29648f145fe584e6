#include "cvol/extent_map.h"

#include <cassert>

#include "absl/strings/str_cat.h"
#include "cvol/run_codec.h"
#include "cvol/status_macros.h"

namespace cvol {
namespace {

// True when `next` continues `current` one extent further on.
bool Continues(const std::optional<Location>& current,
               const std::optional<Location>& next, uint64_t distance) {
  if (!current.has_value() || !next.has_value()) {
    return current.has_value() == next.has_value();
  }
  return current->dev == next->dev && next->pext >= current->pext &&
         next->pext - current->pext == distance;
}

}  // namespace

ExtentMap::ExtentMap(uint64_t extent_count) : entries_(extent_count) {}

absl::StatusOr<ExtentMap> ExtentMap::Create(uint64_t extent_count) {
  if (extent_count > kMaxExtents) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extent count ", extent_count, " exceeds the maximum of ", kMaxExtents));
  }
  return ExtentMap(extent_count);
}

absl::StatusOr<ExtentMap> ExtentMap::FromRuns(uint64_t extent_count,
                                              absl::Span<const Run> runs) {
  ASSIGN_OR_RETURN(ExtentMap map, Create(extent_count));
  if (absl::Status s = CheckRunsDisjoint(runs); !s.ok()) return s;
  for (const Run& run : runs) {
    if (run.count == 0 || run.vext >= extent_count ||
        run.count > extent_count - run.vext) {
      return absl::InvalidArgumentError(
          absl::StrCat("run \"", FormatRun(run), "\" lies outside the volume's ",
                       extent_count, " extents"));
    }
    if (run.pext + run.count < run.pext) {
      return absl::InvalidArgumentError(absl::StrCat(
          "run \"", FormatRun(run), "\" runs past the end of the extent space"));
    }
  }
  for (const Run& run : runs) {
    for (uint64_t i = 0; i < run.count; ++i) {
      map.entries_[run.vext + i] = Location{run.dev, run.pext + i};
    }
  }
  return map;
}

uint64_t ExtentMap::MappedCount() const {
  uint64_t mapped = 0;
  for (const auto& entry : entries_) mapped += entry.has_value() ? 1 : 0;
  return mapped;
}

std::optional<Location> ExtentMap::Get(uint64_t vext) const {
  if (vext >= entries_.size()) return std::nullopt;
  return entries_[vext];
}

void ExtentMap::Set(uint64_t vext, std::optional<Location> location) {
  assert(vext < entries_.size());
  entries_[vext] = location;
}

std::vector<Run> ExtentMap::ToRuns() const {
  std::vector<Run> runs;
  for (uint64_t vext = 0; vext < entries_.size(); ++vext) {
    const std::optional<Location>& entry = entries_[vext];
    if (!entry.has_value()) continue;
    if (!runs.empty()) {
      Run& last = runs.back();
      if (last.vext + last.count == vext &&
          Continues(Location{last.dev, last.pext}, entry, last.count)) {
        ++last.count;
        continue;
      }
    }
    runs.push_back(Run{vext, entry->dev, entry->pext, 1});
  }
  return runs;
}

absl::Status ExtentMap::Apply(absl::Span<const MapSetItem> items) {
  const uint64_t extent_count = entries_.size();
  for (const MapSetItem& item : items) {
    const uint64_t pext = item.target ? item.target->pext : 0;
    if (item.count == 0 || item.vext >= extent_count ||
        item.count > extent_count - item.vext || pext + item.count < pext) {
      return absl::InvalidArgumentError(absl::StrCat(
          "map_set item \"", FormatMapSetItem(item),
          "\" lies outside the volume's ", extent_count, " extents"));
    }
  }
  for (const MapSetItem& item : items) {
    for (uint64_t i = 0; i < item.count; ++i) {
      std::optional<Location>& entry = entries_[item.vext + i];
      if (item.is_unmap()) {
        entry.reset();
      } else {
        entry = Location{item.target->dev, item.target->pext + i};
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<MapSetItem>> Diff(const ExtentMap& from,
                                             const ExtentMap& to) {
  if (from.size() != to.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot diff maps of different sizes (", from.size(), " and ",
        to.size(), " extents)"));
  }
  std::vector<MapSetItem> items;
  for (uint64_t vext = 0; vext < to.size(); ++vext) {
    const std::optional<Location> wanted = to.Get(vext);
    if (from.Get(vext) == wanted) continue;
    if (!items.empty()) {
      MapSetItem& last = items.back();
      if (last.vext + last.count == vext &&
          Continues(last.target, wanted, last.count)) {
        ++last.count;
        continue;
      }
    }
    items.push_back(MapSetItem{vext, 1, wanted});
  }
  return items;
}

}  // namespace cvol
