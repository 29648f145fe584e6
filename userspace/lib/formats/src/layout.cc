#include "cvol/layout.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cvol/status_macros.h"

namespace cvol {
namespace {

// A uniform number in [0, bound) without modulo bias; bound > 0.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t limit = std::numeric_limits<uint64_t>::max() -
                         std::numeric_limits<uint64_t>::max() % bound;
  uint64_t value;
  do {
    value = rng();
  } while (value >= limit);
  return value % bound;
}

template <typename T>
void Shuffle(std::vector<T>& values, std::mt19937_64& rng) {
  for (size_t i = values.size(); i > 1; --i) {
    std::swap(values[i - 1], values[UniformBelow(rng, i)]);
  }
}

// The devices' physical extents numbered one after the other: index 0 is
// device 0's pext 0, then the rest of device 0, then device 1, ...
class PhysicalPool {
 public:
  explicit PhysicalPool(const std::vector<uint64_t>& device_extents) {
    uint64_t total = 0;
    for (uint32_t dev = 0; dev < device_extents.size(); ++dev) {
      if (device_extents[dev] == 0) continue;
      starts_.push_back(total);
      devs_.push_back(dev);
      total += device_extents[dev];
    }
    size_ = total;
  }

  uint64_t size() const { return size_; }

  Location At(uint64_t index) const {
    const size_t i = static_cast<size_t>(
        std::upper_bound(starts_.begin(), starts_.end(), index) - starts_.begin() - 1);
    return Location{devs_[i], index - starts_[i]};
  }

 private:
  std::vector<uint64_t> starts_;
  std::vector<uint32_t> devs_;
  uint64_t size_ = 0;
};

// Robert Floyd's sampling: `count` distinct numbers below `bound` with
// memory proportional to `count`, not `bound`.
std::vector<uint64_t> SampleDistinct(uint64_t count, uint64_t bound,
                                     std::mt19937_64& rng) {
  absl::flat_hash_set<uint64_t> chosen;
  std::vector<uint64_t> order;
  order.reserve(count);
  for (uint64_t j = bound - count; j < bound; ++j) {
    const uint64_t t = UniformBelow(rng, j + 1);
    const uint64_t pick = chosen.insert(t).second ? t : j;
    if (pick == j) chosen.insert(j);
    order.push_back(pick);
  }
  return order;
}

std::vector<Location> StripedLocations(uint64_t count,
                                       const std::vector<uint64_t>& device_extents) {
  std::vector<uint64_t> next(device_extents.size(), 0);
  std::vector<Location> locations;
  locations.reserve(count);
  size_t dev = 0;
  while (locations.size() < count) {
    if (next[dev] < device_extents[dev]) {
      locations.push_back(Location{static_cast<uint32_t>(dev), next[dev]++});
    }
    dev = (dev + 1) % device_extents.size();
  }
  return locations;
}

}  // namespace

absl::StatusOr<LayoutKind> ParseLayoutKind(absl::string_view name) {
  for (LayoutKind kind : {LayoutKind::kLinear, LayoutKind::kStriped,
                          LayoutKind::kRandom, LayoutKind::kShuffled}) {
    if (name == LayoutKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "layout \"", name, "\": expected linear, striped, random or shuffled"));
}

absl::string_view LayoutKindName(LayoutKind kind) {
  switch (kind) {
    case LayoutKind::kLinear: return "linear";
    case LayoutKind::kStriped: return "striped";
    case LayoutKind::kRandom: return "random";
    case LayoutKind::kShuffled: return "shuffled";
  }
  return "unknown";
}

absl::StatusOr<ExtentMap> GenerateLayout(const LayoutSpec& spec) {
  ASSIGN_OR_RETURN(ExtentMap map, ExtentMap::Create(spec.extents));
  if (spec.unmapped_percent > 100) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unmapped percentage ", spec.unmapped_percent, " is above 100"));
  }
  std::mt19937_64 rng(spec.seed);

  // Which virtual extents get a location, in ascending order.
  std::vector<uint64_t> mapped(spec.extents);
  std::iota(mapped.begin(), mapped.end(), uint64_t{0});
  const uint64_t holes = spec.extents * spec.unmapped_percent / 100;
  if (holes > 0) {
    Shuffle(mapped, rng);
    mapped.resize(spec.extents - holes);
    std::sort(mapped.begin(), mapped.end());
  }

  const PhysicalPool pool(spec.device_extents);
  if (pool.size() < mapped.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the devices hold ", pool.size(), " extents but the layout maps ",
        mapped.size()));
  }

  std::vector<Location> locations;
  if (spec.kind == LayoutKind::kStriped) {
    locations = StripedLocations(mapped.size(), spec.device_extents);
  } else {
    std::vector<uint64_t> indexes;
    if (spec.kind == LayoutKind::kRandom) {
      indexes = SampleDistinct(mapped.size(), pool.size(), rng);
      Shuffle(indexes, rng);  // Floyd's order is biased towards the end
    } else {
      indexes.resize(mapped.size());
      std::iota(indexes.begin(), indexes.end(), uint64_t{0});
      if (spec.kind == LayoutKind::kShuffled) Shuffle(indexes, rng);
    }
    locations.reserve(indexes.size());
    for (uint64_t index : indexes) locations.push_back(pool.At(index));
  }

  for (size_t i = 0; i < mapped.size(); ++i) map.Set(mapped[i], locations[i]);
  return map;
}

}  // namespace cvol
