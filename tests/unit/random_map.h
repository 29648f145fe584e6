// Random extent maps with the structure real maps have: long runs, holes,
// and occasional jumps, so that run compression and diffs meet every case.
#ifndef CVOL_TESTS_UNIT_RANDOM_MAP_H_
#define CVOL_TESTS_UNIT_RANDOM_MAP_H_

#include <cstdint>
#include <random>

#include "cvol/extent_map.h"

namespace cvol::testing {

inline ExtentMap RandomMap(std::mt19937_64& rng, uint64_t extents, uint32_t devs,
                           uint64_t pexts_per_dev) {
  ExtentMap map(extents);
  std::optional<Location> previous;
  for (uint64_t vext = 0; vext < extents; ++vext) {
    const uint64_t dice = rng() % 100;
    std::optional<Location> next;
    if (dice < 60 && previous.has_value()) {
      next = Location{previous->dev, previous->pext + 1};  // continue the run
    } else if (dice < 80) {
      next = std::nullopt;  // a hole
    } else {
      next = Location{static_cast<uint32_t>(rng() % devs), rng() % pexts_per_dev};
    }
    map.Set(vext, next);
    previous = next;
  }
  return map;
}

}  // namespace cvol::testing

#endif  // CVOL_TESTS_UNIT_RANDOM_MAP_H_
