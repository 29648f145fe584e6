#include "cvol/pool/allocator.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/strings/str_cat.h"
#include "cvol/run_codec.h"

namespace cvol::pool {
namespace {

// The same error with context in front, keeping its code.
absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, ": ", status.message()));
}

ExtentRange PhysicalRange(const Run& run) { return {run.pext, run.count}; }

}  // namespace

absl::StatusOr<Pool> Pool::Create(uint64_t extent_sectors) {
  if (extent_sectors == 0 || extent_sectors % CVOL_MIN_EXTENT_SECTORS != 0 ||
      extent_sectors > CVOL_MAX_EXTENT_SECTORS) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extent size ", extent_sectors, " sectors: must be a multiple of ",
        CVOL_MIN_EXTENT_SECTORS, " sectors, at most ", CVOL_MAX_EXTENT_SECTORS));
  }
  return Pool(extent_sectors);
}

absl::StatusOr<uint32_t> Pool::AddPv(absl::string_view uuid, uint64_t extents) {
  if (uuid.empty()) return absl::InvalidArgumentError("pv uuid is empty");
  for (const Pv& pv : pvs_) {
    if (pv.uuid == uuid) {
      return absl::AlreadyExistsError(absl::StrCat("pv ", uuid, " is already in the pool"));
    }
  }
  if (pvs_.size() >= kMaxPvs) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the pool already has the maximum of ", kMaxPvs, " pvs"));
  }
  if (extents == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pv ", uuid, " has no whole extent"));
  }
  absl::StatusOr<FreeSpace> space = FreeSpace::Create(extents);
  if (!space.ok()) return Prefixed(absl::StrCat("pv ", uuid), space.status());
  pvs_.push_back(Pv{std::string(uuid), *std::move(space)});
  return static_cast<uint32_t>(pvs_.size() - 1);
}

uint64_t Pool::TotalExtents() const {
  uint64_t total = 0;
  for (const Pv& pv : pvs_) total += pv.space.extent_count();
  return total;
}

uint64_t Pool::FreeCount() const {
  uint64_t free = 0;
  for (const Pv& pv : pvs_) free += pv.space.FreeCount();
  return free;
}

std::string Pool::PvName(uint32_t pv) const {
  return absl::StrCat("pv ", pvs_[pv].uuid, " (#", pv, ")");
}

std::optional<Pool::Pick> Pool::BestContiguous(uint64_t count,
                                               std::optional<uint32_t> exclude) const {
  std::optional<Pick> best;
  uint64_t best_free = 0;
  for (uint32_t pv = 0; pv < pv_count(); ++pv) {
    if (exclude == pv) continue;
    const FreeSpace& space = pvs_[pv].space;
    std::optional<ExtentRange> fit = space.BestFit(count);
    if (!fit.has_value()) continue;
    // Ascending pv order: a strict improvement keeps the lower index on ties.
    if (!best.has_value() || fit->count < best->range.count ||
        (fit->count == best->range.count && space.FreeCount() > best_free)) {
      best = Pick{pv, *fit};
      best_free = space.FreeCount();
    }
  }
  return best;
}

std::optional<Pool::Pick> Pool::Largest() const {
  std::optional<Pick> best;
  uint64_t best_free = 0;
  for (uint32_t pv = 0; pv < pv_count(); ++pv) {
    const FreeSpace& space = pvs_[pv].space;
    std::optional<ExtentRange> run = space.LargestRun();
    if (!run.has_value()) continue;
    if (!best.has_value() || run->count > best->range.count ||
        (run->count == best->range.count && space.FreeCount() > best_free)) {
      best = Pick{pv, *run};
      best_free = space.FreeCount();
    }
  }
  return best;
}

Run Pool::Take(const Pick& pick, uint64_t count, uint64_t vext) {
  // The pick came from the free space just now: this cannot fail.
  [[maybe_unused]] absl::Status status =
      pvs_[pick.pv].space.Allocate(ExtentRange{pick.range.start, count});
  assert(status.ok());
  return Run{vext, pick.pv, pick.range.start, count};
}

std::vector<Run> Pool::TakeSpread(uint64_t count, uint64_t first_vext) {
  std::vector<Run> runs;
  uint64_t vext = first_vext;
  uint64_t remaining = count;
  // Whole longest runs until the rest fits in one run, which is then the
  // best fit: the fewest runs that can hold `count`, without cutting into
  // a long run for the last small piece.
  while (remaining > 0) {
    if (std::optional<Pick> fit = BestContiguous(remaining)) {
      runs.push_back(Take(*fit, remaining, vext));
      break;
    }
    std::optional<Pick> largest = Largest();
    assert(largest.has_value());  // the caller checked the free count
    const uint64_t taken = largest->range.count;
    runs.push_back(Take(*largest, taken, vext));
    vext += taken;
    remaining -= taken;
  }
  return runs;
}

absl::StatusOr<std::vector<std::vector<ExtentRange>>> Pool::RangesByPv(
    absl::Span<const Run> runs, bool volume_map) const {
  if (volume_map) {
    if (absl::Status s = CheckRunsDisjoint(runs); !s.ok()) return s;
  }
  std::vector<std::vector<ExtentRange>> by_pv(pvs_.size());
  for (const Run& run : runs) {
    if (run.count == 0 || run.vext + run.count < run.vext) {
      return absl::InvalidArgumentError(
          absl::StrCat("run \"", FormatRun(run), "\" is empty or wraps around"));
    }
    if (run.dev >= pv_count()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "run \"", FormatRun(run), "\" names pv #", run.dev, "; the pool has ",
          pv_count(), " pvs"));
    }
    by_pv[run.dev].push_back(PhysicalRange(run));
  }
  return by_pv;
}

absl::StatusOr<std::vector<Run>> Pool::Allocate(uint64_t count, uint64_t first_vext,
                                                Placement placement) {
  if (count == 0) return absl::InvalidArgumentError("cannot allocate 0 extents");
  if (count > kMaxVolumeExtents || first_vext > kMaxVolumeExtents - count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extents ", first_vext, "+", count, " exceed the volume limit of ",
        kMaxVolumeExtents, " extents"));
  }
  if (FreeCount() < count) {
    return absl::ResourceExhaustedError(absl::StrCat(
        count, " extents requested; the pool has ", FreeCount(), " free"));
  }
  if (std::optional<Pick> fit = BestContiguous(count)) {
    return std::vector<Run>{Take(*fit, count, first_vext)};
  }
  if (placement == Placement::kContiguous) {
    std::optional<Pick> largest = Largest();
    return absl::ResourceExhaustedError(absl::StrCat(
        "no pv has ", count, " contiguous free extents; the longest free run is ",
        largest.has_value() ? largest->range.count : 0));
  }
  return TakeSpread(count, first_vext);
}

absl::StatusOr<std::vector<Run>> Pool::Grow(absl::Span<const Run> volume, uint64_t extra,
                                            Placement placement) {
  if (extra == 0) return absl::InvalidArgumentError("cannot grow by 0 extents");
  absl::StatusOr<std::vector<std::vector<ExtentRange>>> by_pv =
      RangesByPv(volume, /*volume_map=*/true);
  if (!by_pv.ok()) return Prefixed("grow", by_pv.status());
  // Growing a map that is not allocated here would let its extents be
  // handed out twice later: refuse it.
  const Run* last = nullptr;
  for (const Run& run : volume) {
    if (!pvs_[run.dev].space.IsUsed(PhysicalRange(run))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "grow: run \"", FormatRun(run), "\" is not allocated in the pool"));
    }
    if (last == nullptr || run.vext > last->vext) last = &run;
  }
  const uint64_t end = last == nullptr ? 0 : last->vext + last->count;
  if (extra > kMaxVolumeExtents || end > kMaxVolumeExtents - extra) {
    return absl::InvalidArgumentError(absl::StrCat(
        "growing ", end, " extents by ", extra, " exceeds the volume limit of ",
        kMaxVolumeExtents, " extents"));
  }
  if (FreeCount() < extra) {
    return absl::ResourceExhaustedError(absl::StrCat(
        extra, " extents requested; the pool has ", FreeCount(), " free"));
  }

  // Extending the last run in place adds nothing to the map.
  std::optional<Pick> in_place;
  if (last != nullptr) {
    const uint64_t next = last->pext + last->count;
    if (std::optional<ExtentRange> run = pvs_[last->dev].space.FreeRunAt(next)) {
      in_place = Pick{last->dev, ExtentRange{next, std::min(run->end() - next, extra)}};
    }
  }
  if (in_place.has_value() && in_place->range.count == extra) {
    return std::vector<Run>{Take(*in_place, extra, end)};
  }
  if (placement == Placement::kContiguous) {
    std::optional<Pick> fit = BestContiguous(extra);
    if (!fit.has_value()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("no pv has ", extra, " contiguous free extents"));
    }
    return std::vector<Run>{Take(*fit, extra, end)};
  }
  // Part in place, the rest by the usual rules: the map grows by at most
  // as many runs as a new volume of the rest would have.
  std::vector<Run> runs;
  uint64_t vext = end;
  uint64_t remaining = extra;
  if (in_place.has_value()) {
    runs.push_back(Take(*in_place, in_place->range.count, vext));
    vext += in_place->range.count;
    remaining -= in_place->range.count;
  }
  std::vector<Run> rest = TakeSpread(remaining, vext);
  runs.insert(runs.end(), rest.begin(), rest.end());
  return runs;
}

absl::Status Pool::Free(absl::Span<const Run> runs) {
  absl::StatusOr<std::vector<std::vector<ExtentRange>>> by_pv =
      RangesByPv(runs, /*volume_map=*/false);
  if (!by_pv.ok()) return Prefixed("free", by_pv.status());
  for (uint32_t pv = 0; pv < pv_count(); ++pv) {
    if (absl::Status s = pvs_[pv].space.CheckFree((*by_pv)[pv]); !s.ok()) {
      return Prefixed(absl::StrCat("free: ", PvName(pv)), s);
    }
  }
  for (uint32_t pv = 0; pv < pv_count(); ++pv) {
    [[maybe_unused]] absl::Status s = pvs_[pv].space.Free((*by_pv)[pv]);
    assert(s.ok());
  }
  return absl::OkStatus();
}

absl::StatusOr<Location> Pool::AllocateOne(PvHint hint, uint32_t pv) {
  if (hint != PvHint::kAny && pv >= pv_count()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pv #", pv, " is not in the pool (", pv_count(), " pvs)"));
  }
  std::optional<Pick> pick;
  if (hint == PvHint::kPrefer) {
    if (std::optional<ExtentRange> fit = pvs_[pv].space.BestFit(1)) {
      pick = Pick{pv, *fit};
    }
  }
  if (!pick.has_value()) {
    pick = BestContiguous(1, hint == PvHint::kExclude ? std::optional<uint32_t>(pv)
                                                     : std::nullopt);
  }
  if (!pick.has_value()) {
    return absl::ResourceExhaustedError(
        hint == PvHint::kExclude
            ? absl::StrCat("no free extent outside ", PvName(pv))
            : std::string("the pool has no free extent"));
  }
  const Run run = Take(*pick, 1, 0);
  return Location{run.dev, run.pext};
}

absl::Status Pool::Reserve(absl::string_view volume, absl::Span<const Run> runs) {
  const std::string prefix = absl::StrCat("volume ", volume);
  absl::StatusOr<std::vector<std::vector<ExtentRange>>> by_pv =
      RangesByPv(runs, /*volume_map=*/true);
  if (!by_pv.ok()) return Prefixed(prefix, by_pv.status());
  for (uint32_t pv = 0; pv < pv_count(); ++pv) {
    if (absl::Status s = pvs_[pv].space.CheckAllocate((*by_pv)[pv]); !s.ok()) {
      return Prefixed(absl::StrCat(prefix, ": ", PvName(pv)), s);
    }
  }
  for (uint32_t pv = 0; pv < pv_count(); ++pv) {
    [[maybe_unused]] absl::Status s = pvs_[pv].space.Allocate((*by_pv)[pv]);
    assert(s.ok());
  }
  return absl::OkStatus();
}

absl::Status Pool::Restore(absl::Span<const VolumeRuns> volumes) {
  // Who holds which physical extents, per pv: start -> (end, volume), so
  // that a conflict can name both volumes, which a free-space check alone
  // could not.
  struct Owner {
    uint64_t end;
    size_t volume;
  };
  std::vector<absl::btree_map<uint64_t, Owner>> owners(pvs_.size());
  for (size_t i = 0; i < volumes.size(); ++i) {
    const VolumeRuns& volume = volumes[i];
    const std::string prefix = absl::StrCat("volume ", volume.name);
    absl::StatusOr<std::vector<std::vector<ExtentRange>>> by_pv =
        RangesByPv(volume.runs, /*volume_map=*/true);
    if (!by_pv.ok()) return Prefixed(prefix, by_pv.status());
    for (const Run& run : volume.runs) {
      const uint64_t extents = pvs_[run.dev].space.extent_count();
      if (run.pext >= extents || run.count > extents - run.pext) {
        return absl::OutOfRangeError(absl::StrCat(
            prefix, ": run \"", FormatRun(run), "\" lies outside ", PvName(run.dev),
            ", which has ", extents, " extents"));
      }
      const uint64_t end = run.pext + run.count;
      absl::btree_map<uint64_t, Owner>& held = owners[run.dev];
      // Held ranges are disjoint: only the last one starting before `end`
      // can reach into this run.
      auto after = held.lower_bound(end);
      if (after != held.begin()) {
        auto before = std::prev(after);
        if (before->second.end > run.pext) {
          const ExtentRange both{std::max(run.pext, before->first),
                                 std::min(end, before->second.end) -
                                     std::max(run.pext, before->first)};
          const VolumeRuns& other = volumes[before->second.volume];
          if (before->second.volume == i) {
            return absl::InvalidArgumentError(absl::StrCat(
                prefix, " maps ", PvName(run.dev), " extents ", ToString(both), " twice"));
          }
          return absl::InvalidArgumentError(absl::StrCat(
              "volumes ", other.name, " and ", volume.name, " both map ",
              PvName(run.dev), " extents ", ToString(both)));
        }
      }
      held.emplace(run.pext, Owner{end, i});
    }
  }
  std::vector<FreeSpace> spaces;
  spaces.reserve(pvs_.size());
  for (uint32_t pv = 0; pv < pv_count(); ++pv) {
    FreeSpace& space = spaces.emplace_back(pvs_[pv].space.extent_count());
    std::vector<ExtentRange> ranges;
    ranges.reserve(owners[pv].size());
    for (const auto& [start, owner] : owners[pv]) {
      ranges.push_back({start, owner.end - start});
    }
    // Checked above (inside the pv, disjoint): cannot fail.
    [[maybe_unused]] absl::Status s = space.Allocate(ranges);
    assert(s.ok());
  }
  for (uint32_t pv = 0; pv < pv_count(); ++pv) pvs_[pv].space = std::move(spaces[pv]);
  return absl::OkStatus();
}

}  // namespace cvol::pool
