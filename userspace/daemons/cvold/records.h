// The configuration records cvold keeps in etcd, and their JSON form. A
// record is the whole truth about one object; every change to it is one
// guarded etcd transaction (config_db.h).
#ifndef CVOL_CVOLD_RECORDS_H_
#define CVOL_CVOLD_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cvol/map_types.h"

namespace cvol::daemon {

struct PoolRecord {
  std::string name;
  std::string uuid;
  uint64_t extent_sectors = 0;
  // Bumped by every transaction that changes the pool's allocation (pvs,
  // volume maps, moves). Such transactions compare the pool record's
  // mod_revision, so two of them can never both succeed on the same view of
  // the free space: this is what rules out double allocation across hosts.
  uint64_t alloc_gen = 0;
  uint64_t created_ns = 0;

  friend bool operator==(const PoolRecord&, const PoolRecord&) = default;
};

struct PvRecord {
  std::string uuid;
  std::string name;
  std::string pool;
  uint32_t slot = 0;  // the device slot in every table line of the pool
  uint64_t extents = 0;
  uint64_t data_offset = 0;  // sectors
  uint64_t device_sectors = 0;

  friend bool operator==(const PvRecord&, const PvRecord&) = default;
};

// A volume's address space is cut into segments, one cvol target each: a
// grow appends a segment (as lvextend appends a dm segment), so the live
// segments keep their maps and never need resizing.
struct Segment {
  uint64_t first_vext = 0;
  uint64_t extents = 0;

  friend bool operator==(const Segment&, const Segment&) = default;
};

struct VolumeRecord {
  std::string pool;
  std::string name;
  std::string uuid;
  uint64_t extents = 0;
  uint64_t generation = 1;  // +1 per map change
  std::vector<Segment> segments;
  std::vector<Run> runs;  // vext over the whole volume; dev = pv slot
  uint64_t created_ns = 0;

  friend bool operator==(const VolumeRecord&, const VolumeRecord&) = default;
};

// One extent moving from src to dst. While kCopying the volume map still
// says src and dst is reserved by this record; the new location is written to
// the volume map (phase kCommitting) before the kernel switches, and then src
// is reserved by this record until the move is done and the record deleted.
struct MoveRecord {
  enum class Phase { kCopying, kCommitting };
  // A cluster move's step (docs/cluster.md); kNone on a single host and
  // before the controller first decides.
  enum class Step { kNone, kFollow, kCopy, kFreeze, kApply, kRelease, kAbort };

  // A cluster controller has recorded a step: some host may run its
  // migration. Until then the move is only queued, and holds no host back
  // from re-integrating or reloading its volume.
  bool TakenUp() const { return step != Step::kNone; }

  std::string pool;
  std::string volume;  // name within the pool
  std::string volume_uuid;
  uint64_t vext = 0;
  Location src;  // dev = pv slot
  Location dst;
  Phase phase = Phase::kCopying;
  uint64_t started_ns = 0;
  // Cluster moves only (kNone/0/empty on a single host): the controller's
  // step (docs/cluster.md), the epoch it runs under, the hosts it removed
  // from the control range (each one fenced for sure once recorded), and
  // the hosts that followed the migration (dual-writing) when the copy
  // began: any of them missing later means its writes are not all known.
  Step step = Step::kNone;
  uint64_t epoch = 0;
  std::vector<std::string> excluded;
  std::vector<std::string> followers;

  // The extent this record keeps allocated beside the volume map.
  Location reserved() const { return phase == Phase::kCopying ? dst : src; }

  friend bool operator==(const MoveRecord&, const MoveRecord&) = default;
};

std::string PhaseName(MoveRecord::Phase phase);
// "follow", "copy", ...; "" for kNone.
const char* StepName(MoveRecord::Step step);
std::optional<MoveRecord::Step> ParseStep(const std::string& name);

// CLOCK_REALTIME in nanoseconds: the creation times records carry.
uint64_t WallClockNs();

std::string EncodePool(const PoolRecord& record);
std::string EncodePv(const PvRecord& record);
std::string EncodeVolume(const VolumeRecord& record);
std::string EncodeMove(const MoveRecord& record);

absl::StatusOr<PoolRecord> DecodePool(const std::string& text);
absl::StatusOr<PvRecord> DecodePv(const std::string& text);
absl::StatusOr<VolumeRecord> DecodeVolume(const std::string& text);
absl::StatusOr<MoveRecord> DecodeMove(const std::string& text);

// The checks every decoded or new volume record must pass: segments tile
// [0, extents), runs lie inside it and do not overlap.
absl::Status CheckVolume(const VolumeRecord& record);

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_RECORDS_H_
