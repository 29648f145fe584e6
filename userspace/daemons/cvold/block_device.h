// The little cvold needs to know about a block device beyond its label.
#ifndef CVOL_CVOLD_BLOCK_DEVICE_H_
#define CVOL_CVOLD_BLOCK_DEVICE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace cvol::daemon {

// Size in 512-byte sectors (block devices and, for tests, regular files).
absl::StatusOr<uint64_t> DeviceSectors(const std::string& path);

// Zeroes the label block, so that the device is no longer a pv anywhere.
absl::Status WipePvLabel(const std::string& path);

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_BLOCK_DEVICE_H_
