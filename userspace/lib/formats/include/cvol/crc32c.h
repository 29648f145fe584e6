// CRC-32C (Castagnoli, the iSCSI/ext4/btrfs checksum): reflected
// polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF. The check
// value of "123456789" is 0xE3069283. Table-driven: the labels it guards
// are a few hundred bytes, read once per scan, so speed does not matter
// and no CPU instruction is assumed.
#ifndef CVOL_CRC32C_H_
#define CVOL_CRC32C_H_

#include <cstdint>

#include "absl/types/span.h"

namespace cvol {

uint32_t Crc32c(absl::Span<const uint8_t> data);

// Continues `crc` (a finished Crc32c value) over more data:
// Crc32cExtend(Crc32c(a), b) == Crc32c(a followed by b).
uint32_t Crc32cExtend(uint32_t crc, absl::Span<const uint8_t> data);

}  // namespace cvol

#endif  // CVOL_CRC32C_H_
