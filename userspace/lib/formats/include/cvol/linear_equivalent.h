// The dm-linear table that addresses exactly the sectors a cvol table
// addresses, so tests can compare a cvol device with plain device-mapper
// byte for byte.
#ifndef CVOL_LINEAR_EQUIVALENT_H_
#define CVOL_LINEAR_EQUIVALENT_H_

#include <vector>

#include "absl/status/statusor.h"
#include "cvol/dm_line.h"
#include "cvol/table_line.h"

namespace cvol {

// One segment per maximal run ("linear <dev> <sector>"); unmapped ranges
// become "zero" segments if the table has unmapped_zero, "error" segments
// otherwise. `cvol_line` must be a cvol line; its params must parse. A
// length that is not a whole number of extents ends in a partial extent.
absl::StatusOr<std::vector<DmLine>> LinearEquivalent(const DmLine& cvol_line);

}  // namespace cvol

#endif  // CVOL_LINEAR_EQUIVALENT_H_
