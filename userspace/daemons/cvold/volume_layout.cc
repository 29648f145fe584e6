#include "volume_layout.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace cvol::daemon {

std::string SegmentUuid(const VolumeRecord& volume, size_t segment, const std::string& instance) {
  return absl::StrCat(volume.uuid, segment == 0 ? "" : absl::StrCat(".", segment),
                      instance.empty() ? "" : absl::StrCat("-", instance));
}

absl::StatusOr<ExtentAddress> Locate(const VolumeRecord& volume, uint64_t vext,
                                     uint64_t extent_sectors) {
  for (size_t i = 0; i < volume.segments.size(); ++i) {
    const Segment& s = volume.segments[i];
    if (vext >= s.first_vext && vext - s.first_vext < s.extents) {
      return ExtentAddress{i, s.first_vext * extent_sectors, vext - s.first_vext};
    }
  }
  return absl::OutOfRangeError(absl::StrCat(
      "extent ", vext, " is outside volume ", volume.pool, "/", volume.name, " (", volume.extents,
      " extents", volume.extents ? absl::StrCat(": 0-", volume.extents - 1) : "", ")"));
}

std::vector<Run> SegmentRuns(const VolumeRecord& volume, size_t segment) {
  const Segment& s = volume.segments[segment];
  const uint64_t end = s.first_vext + s.extents;
  std::vector<Run> out;
  for (const Run& run : volume.runs) {
    const uint64_t a = std::max(run.vext, s.first_vext);
    const uint64_t b = std::min(run.vext + run.count, end);
    if (a >= b) continue;
    out.push_back(Run{a - s.first_vext, run.dev, run.pext + (a - run.vext), b - a});
  }
  std::sort(out.begin(), out.end(), [](const Run& x, const Run& y) { return x.vext < y.vext; });
  return out;
}

std::vector<TableLine> BuildTableLines(const VolumeRecord& volume, uint64_t extent_sectors,
                                       const std::vector<const PvRecord*>& pvs,
                                       const PvPaths& paths, const std::string& instance) {
  uint32_t slots = 0;
  for (const PvRecord* pv : pvs) slots = std::max(slots, pv->slot + 1);
  std::vector<DeviceSlot> devices(slots);
  for (const PvRecord* pv : pvs) {
    auto it = paths.find(pv->uuid);
    if (it != paths.end()) devices[pv->slot] = DeviceSlot{it->second, pv->data_offset};
  }
  std::vector<TableLine> lines;
  for (size_t i = 0; i < volume.segments.size(); ++i) {
    TableLine line;
    line.vol_uuid = SegmentUuid(volume, i, instance);
    line.extent_sectors = extent_sectors;
    line.devices = devices;
    line.map_runs = SegmentRuns(volume, i);
    lines.push_back(std::move(line));
  }
  return lines;
}

std::vector<DmLine> ToDmLines(const VolumeRecord& volume, uint64_t extent_sectors,
                              const std::vector<TableLine>& lines) {
  std::vector<DmLine> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const Segment& s = volume.segments[i];
    out.push_back(DmLine{s.first_vext * extent_sectors, s.extents * extent_sectors, "cvol",
                         lines[i].Format()});
  }
  return out;
}

uint64_t KernelMapGen(const VolumeRecord& volume) {
  return volume.generation == 0 ? 0 : volume.generation - 1;  // 0: a hand-made record
}

Location LocationOf(const VolumeRecord& v, uint64_t vext) {
  for (const Run& run : v.runs) {
    if (vext >= run.vext && vext - run.vext < run.count) {
      return Location{run.dev, run.pext + (vext - run.vext)};
    }
  }
  return Location{};
}

std::vector<Run> Coalesce(std::vector<Run> runs) {
  std::sort(runs.begin(), runs.end(), [](const Run& x, const Run& y) { return x.vext < y.vext; });
  std::vector<Run> out;
  for (const Run& run : runs) {
    if (!out.empty()) {
      Run& last = out.back();
      if (last.vext + last.count == run.vext && last.dev == run.dev &&
          last.pext + last.count == run.pext) {
        last.count += run.count;
        continue;
      }
    }
    out.push_back(run);
  }
  return out;
}

std::vector<Run> Remap(const std::vector<Run>& runs, uint64_t vext, Location to) {
  std::vector<Run> out;
  for (const Run& run : runs) {
    if (vext < run.vext || vext - run.vext >= run.count) {
      out.push_back(run);
      continue;
    }
    const uint64_t k = vext - run.vext;
    if (k > 0) out.push_back(Run{run.vext, run.dev, run.pext, k});
    out.push_back(Run{vext, to.dev, to.pext, 1});
    if (k + 1 < run.count) {
      out.push_back(Run{vext + 1, run.dev, run.pext + k + 1, run.count - k - 1});
    }
  }
  return Coalesce(std::move(out));
}

}  // namespace cvol::daemon
