// How a volume record becomes device-mapper tables: one cvol target per
// segment, every pool slot listed in pv-slot order, the map as runs.
#ifndef CVOL_CVOLD_VOLUME_LAYOUT_H_
#define CVOL_CVOLD_VOLUME_LAYOUT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cvol/dm_line.h"
#include "cvol/table_line.h"
#include "records.h"

namespace cvol::daemon {

// pv uuid -> this host's device path.
using PvPaths = std::map<std::string, std::string>;

// The kernel's volume uuid of one segment.
// With an instance name (several daemons on one kernel, a test harness),
// "-<instance>" is appended so each daemon has its own kernel volume.
std::string SegmentUuid(const VolumeRecord& volume, size_t segment,
                        const std::string& instance = "");

struct ExtentAddress {
  size_t segment = 0;
  uint64_t sector = 0;  // the segment's first sector: where its messages go
  uint64_t local_vext = 0;
};

absl::StatusOr<ExtentAddress> Locate(const VolumeRecord& volume, uint64_t vext,
                                     uint64_t extent_sectors);

// The runs of one segment, rebased to the segment's first extent.
std::vector<Run> SegmentRuns(const VolumeRecord& volume, size_t segment);

// The table of the whole volume. Every slot up to the pool's highest is
// listed; a pv with no path here (or no pv in a slot) is an empty slot "-".
std::vector<TableLine> BuildTableLines(const VolumeRecord& volume, uint64_t extent_sectors,
                                       const std::vector<const PvRecord*>& pvs,
                                       const PvPaths& paths,
                                       const std::string& instance = "");
std::vector<DmLine> ToDmLines(const VolumeRecord& volume, uint64_t extent_sectors,
                              const std::vector<TableLine>& lines);

// The generation users see (Volume.generation, docs/control-protocol.md):
// the kernel's map_gen of the record's map. A new table carries no map_gen,
// so the kernel starts at 0 where the record starts at 1, and every commit
// of a move adds one on both sides: the record's generation minus one.
uint64_t KernelMapGen(const VolumeRecord& volume);

// Where the record maps one extent ({0, 0} if unmapped).
Location LocationOf(const VolumeRecord& volume, uint64_t vext);

// Sorted, with neighbours that continue each other merged: the form the
// kernel prints, so that records and live tables compare equal.
std::vector<Run> Coalesce(std::vector<Run> runs);

// The runs with one extent pointed elsewhere, coalesced.
std::vector<Run> Remap(const std::vector<Run>& runs, uint64_t vext, Location to);

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_VOLUME_LAYOUT_H_
