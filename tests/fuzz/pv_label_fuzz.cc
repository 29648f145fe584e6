// The pv label codec (DecodePvLabel, FindForeignSignature): the first
// 4 KiB of any block device a scan opens. The first byte picks the mode:
// '0' the block as given (mostly "not a cvol device" or a foreign
// signature); '1' with the cvol magic, version 1, header size 512 and a
// correct crc32c patched in, so that the fuzzer reaches the field checks
// behind the checksum; '2' cut short of 4 KiB. A label that decodes must
// pass CheckPvLabel and encode to a block that decodes to the same label.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cvol/pv_label.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cvol::fuzz::FuzzInput in(data, size);
  const unsigned mode = in.Select(3);
  const absl::string_view rest = in.absl_rest();
  if (mode == 2) {
    // Short blocks are refused, not read past.
    (void)cvol::DecodePvLabel(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(rest.data()),
                                                  std::min(rest.size(), cvol::kPvLabelBlockBytes - 1)));
    return 0;
  }
  cvol::PvLabelBlock block{};
  std::memcpy(block.data(), rest.data(), std::min(rest.size(), block.size()));
  if (mode == 1) {
    // magic, version 1, header_size 512 (little-endian), then the crc.
    std::memcpy(block.data(), CVOL_LABEL_MAGIC, CVOL_LABEL_MAGIC_LEN);
    static constexpr uint8_t kVersionAndSize[8] = {CVOL_LABEL_VERSION, 0, 0, 0, 0, 2, 0, 0};
    std::memcpy(block.data() + CVOL_LABEL_MAGIC_LEN, kVersionAndSize, sizeof kVersionAndSize);
    const uint32_t crc = cvol::PvLabelChecksum(absl::MakeConstSpan(block.data(), cvol::kPvLabelBytes));
    for (int i = 0; i < 4; i++) block[cvol::kPvLabelBytes - 4 + i] = static_cast<uint8_t>(crc >> (8 * i));
  }
  (void)cvol::FindForeignSignature(block);
  absl::StatusOr<cvol::PvLabel> label = cvol::DecodePvLabel(block);
  if (!label.ok()) return 0;
  if (!cvol::CheckPvLabel(*label).ok()) cvol::fuzz::Violated("a decoded label fails CheckPvLabel");
  const cvol::PvLabelBlock encoded = cvol::EncodePvLabel(*label);
  absl::StatusOr<cvol::PvLabel> again = cvol::DecodePvLabel(encoded);
  if (!again.ok() || !(*again == *label)) cvol::fuzz::Violated("Decode(Encode(label)) differs");
  return 0;
}
