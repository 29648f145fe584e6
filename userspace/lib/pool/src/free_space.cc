#include "cvol/pool/free_space.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace cvol::pool {

std::string ToString(const ExtentRange& range) {
  if (range.count == 1) return absl::StrCat(range.start);
  if (range.count == 0) return absl::StrCat(range.start, " (empty)");
  return absl::StrCat(range.start, "-", range.start + (range.count - 1));
}

std::ostream& operator<<(std::ostream& os, const ExtentRange& range) {
  return os << ToString(range);
}

FreeSpace::FreeSpace(uint64_t extent_count)
    : extent_count_(extent_count), free_count_(0) {
  if (extent_count > 0) AddRun(0, extent_count);
}

absl::StatusOr<FreeSpace> FreeSpace::Create(uint64_t extent_count) {
  if (extent_count > kMaxExtents) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extent count ", extent_count, " exceeds the maximum of ", kMaxExtents));
  }
  return FreeSpace(extent_count);
}

bool FreeSpace::IsFree(uint64_t pext) const {
  return FreeRunAt(pext).has_value();
}

bool FreeSpace::IsFree(ExtentRange range) const {
  if (range.count == 0 || range.start >= extent_count_ ||
      range.count > extent_count_ - range.start) {
    return false;
  }
  return !FirstUsed(range).has_value();
}

bool FreeSpace::IsUsed(ExtentRange range) const {
  if (range.count == 0 || range.start >= extent_count_ ||
      range.count > extent_count_ - range.start) {
    return false;
  }
  return !FirstFree(range).has_value();
}

std::vector<ExtentRange> FreeSpace::FreeRuns() const {
  std::vector<ExtentRange> runs;
  runs.reserve(runs_.size());
  for (const auto& [start, count] : runs_) runs.push_back({start, count});
  return runs;
}

std::optional<ExtentRange> FreeSpace::FreeRunAt(uint64_t pext) const {
  auto it = runs_.upper_bound(pext);
  if (it == runs_.begin()) return std::nullopt;
  --it;
  if (pext - it->first >= it->second) return std::nullopt;
  return ExtentRange{it->first, it->second};
}

std::optional<ExtentRange> FreeSpace::LargestRun() const {
  if (by_length_.empty()) return std::nullopt;
  // The last entry is the longest run but the highest among equals; the
  // lowest of that length is the first entry of that length.
  const uint64_t longest = by_length_.rbegin()->first;
  auto it = by_length_.lower_bound({longest, 0});
  return ExtentRange{it->second, it->first};
}

std::optional<ExtentRange> FreeSpace::BestFit(uint64_t count) const {
  auto it = by_length_.lower_bound({count, 0});
  if (it == by_length_.end()) return std::nullopt;
  return ExtentRange{it->second, it->first};
}

std::optional<uint64_t> FreeSpace::FirstUsed(ExtentRange range) const {
  std::optional<ExtentRange> run = FreeRunAt(range.start);
  if (!run.has_value()) return range.start;
  if (run->end() >= range.end()) return std::nullopt;
  return run->end();  // runs are maximal: the extent after one is in use
}

std::optional<uint64_t> FreeSpace::FirstFree(ExtentRange range) const {
  if (IsFree(range.start)) return range.start;
  auto next = runs_.upper_bound(range.start);
  if (next != runs_.end() && next->first < range.end()) return next->first;
  return std::nullopt;
}

absl::Status FreeSpace::Check(absl::Span<const ExtentRange> ranges,
                              Want want) const {
  for (const ExtentRange& range : ranges) {
    if (range.count == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty range at extent ", range.start));
    }
    if (range.start >= extent_count_ || range.count > extent_count_ - range.start) {
      return absl::OutOfRangeError(
          absl::StrCat(range.count, " extents from extent ", range.start,
                       " lie outside the device's ", extent_count_, " extents"));
    }
  }
  // Two ranges of one request on the same extent would pass the per-range
  // check below and then count that extent twice.
  std::vector<ExtentRange> sorted(ranges.begin(), ranges.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const ExtentRange& a, const ExtentRange& b) { return a.start < b.start; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i].start < sorted[i - 1].end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("extents ", ToString(sorted[i - 1]), " and ",
                       ToString(sorted[i]), " overlap"));
    }
  }
  for (const ExtentRange& range : ranges) {
    if (want == Want::kFree) {
      if (std::optional<uint64_t> used = FirstUsed(range)) {
        return absl::FailedPreconditionError(
            absl::StrCat("cannot allocate extents ", ToString(range),
                         ": extent ", *used, " is in use"));
      }
    } else if (std::optional<uint64_t> free = FirstFree(range)) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot free extents ", ToString(range), ": extent ",
                       *free, " is already free"));
    }
  }
  return absl::OkStatus();
}

absl::Status FreeSpace::CheckAllocate(absl::Span<const ExtentRange> ranges) const {
  return Check(ranges, Want::kFree);
}

absl::Status FreeSpace::CheckFree(absl::Span<const ExtentRange> ranges) const {
  return Check(ranges, Want::kUsed);
}

absl::Status FreeSpace::Allocate(ExtentRange range) {
  return Allocate(absl::MakeConstSpan(&range, 1));
}

absl::Status FreeSpace::Allocate(absl::Span<const ExtentRange> ranges) {
  if (absl::Status s = CheckAllocate(ranges); !s.ok()) return s;
  for (const ExtentRange& range : ranges) Take(range);
  return absl::OkStatus();
}

absl::Status FreeSpace::Free(ExtentRange range) {
  return Free(absl::MakeConstSpan(&range, 1));
}

absl::Status FreeSpace::Free(absl::Span<const ExtentRange> ranges) {
  if (absl::Status s = CheckFree(ranges); !s.ok()) return s;
  for (const ExtentRange& range : ranges) Give(range);
  return absl::OkStatus();
}

void FreeSpace::Take(ExtentRange range) {
  auto it = std::prev(runs_.upper_bound(range.start));
  const ExtentRange run{it->first, it->second};
  RemoveRun(it);
  if (range.start > run.start) AddRun(run.start, range.start - run.start);
  if (run.end() > range.end()) AddRun(range.end(), run.end() - range.end());
}

void FreeSpace::Give(ExtentRange range) {
  // Merge with the free runs on either side so that runs stay maximal.
  // (Erasing invalidates btree iterators: look each neighbour up afresh.)
  uint64_t start = range.start;
  uint64_t end = range.end();
  if (auto next = runs_.find(end); next != runs_.end()) {
    end += next->second;
    RemoveRun(next);
  }
  if (auto after = runs_.lower_bound(start); after != runs_.begin()) {
    auto previous = std::prev(after);
    if (previous->first + previous->second == start) {
      start = previous->first;
      RemoveRun(previous);
    }
  }
  AddRun(start, end - start);
}

void FreeSpace::AddRun(uint64_t start, uint64_t count) {
  runs_.emplace(start, count);
  by_length_.emplace(count, start);
  free_count_ += count;
}

void FreeSpace::RemoveRun(absl::btree_map<uint64_t, uint64_t>::iterator it) {
  by_length_.erase({it->second, it->first});
  free_count_ -= it->second;
  runs_.erase(it);
}

}  // namespace cvol::pool
