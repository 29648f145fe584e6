#include "model_kernel.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "linux/dm-cvol.h"
#include "cvol/status_macros.h"

namespace cvol::daemon::sim {

uint64_t ModelDisks::Read(Location at, uint32_t region) const {
  auto it = values_.find(Key{at.dev, at.pext, region});
  return it == values_.end() ? 0 : it->second;
}

void ModelDisks::Write(const std::string& host, Location at, uint32_t region, uint64_t value) {
  values_[Key{at.dev, at.pext, region}] = value;
  log_.push_back(DiskWrite{clock_.Now(), host, at, region, value});
}

ModelKernel::ModelKernel(std::string host, ModelDisks& disks, Clock& clock,
                         uint32_t regions_per_extent, AckCallback on_ack)
    : host_(std::move(host)),
      disks_(disks),
      clock_(clock),
      regions_per_extent_(regions_per_extent),
      on_ack_(std::move(on_ack)) {}

std::string ModelKernel::NameOf(const VolumeRecord& volume) {
  return absl::StrCat(volume.pool, "/", volume.name);
}

absl::StatusOr<ModelKernel::Volume*> ModelKernel::Find(const ExtentRef& e) {
  const std::string name = NameOf(e.volume);
  auto it = volumes_.find(name);
  if (it == volumes_.end()) {
    return absl::NotFoundError(absl::StrCat("ENOENT: no volume ", name, " on ", host_));
  }
  if (e.vext >= it->second.extents) {
    return absl::InvalidArgumentError(
        absl::StrCat("ERANGE: extent ", e.vext, " beyond volume ", name));
  }
  return &it->second;
}

absl::StatusOr<ModelKernel::Migration*> ModelKernel::FindMigration(const ExtentRef& e) {
  ASSIGN_OR_RETURN(Volume * v, Find(e));
  auto it = v->migrations.find(e.vext);
  if (it == v->migrations.end()) {
    return absl::NotFoundError(absl::StrCat("ENOENT: no migration on extent ", e.vext));
  }
  return &it->second;
}

// ---- Cluster epochs (1.4) ----

absl::Status ModelKernel::CheckEpoch(const Volume& v, const std::string& name, uint64_t epoch) {
  if (epoch > CVOL_MAX_EPOCH) {
    return absl::InvalidArgumentError(absl::StrCat("ERANGE: epoch ", epoch, " is beyond ",
                                                   CVOL_MAX_EPOCH));
  }
  if (epoch < v.epoch) {
    return StaleEpochError(
        absl::StrCat("ESTALE: ", name, ": epoch ", epoch, " is older than ", v.epoch));
  }
  return absl::OkStatus();
}

absl::Status ModelKernel::UnderEpoch(const ExtentRef& e, uint64_t epoch,
                                     const std::function<absl::Status(Volume&)>& act) {
  ASSIGN_OR_RETURN(Volume * v, Find(e));
  // Epoch 0 is a message without the word: not checked, raises nothing.
  if (epoch == 0) return act(*v);
  RETURN_IF_ERROR(CheckEpoch(*v, NameOf(e.volume), epoch));
  RETURN_IF_ERROR(act(*v));
  v->epoch = std::max(v->epoch, epoch);
  return absl::OkStatus();
}

uint64_t ModelKernel::EpochOf(const std::string& volume) const {
  auto v = volumes_.find(volume);
  return v == volumes_.end() ? 0 : v->second.epoch;
}

// ---- Volumes and the map ----

absl::Status ModelKernel::Activate(const Snapshot& snap, const VolumeRecord& volume) {
  return Load(snap, volume, create_fenced_);
}

absl::Status ModelKernel::Load(const Snapshot& snap, const VolumeRecord& volume, bool fenced) {
  Tick();
  RETURN_IF_ERROR(CheckVolume(volume));
  auto [it, created] = volumes_.try_emplace(NameOf(volume));
  Volume& v = it->second;
  v.segments = volume.segments;
  if (auto pool = snap.pools.find(volume.pool); pool != snap.pools.end()) {
    v.extent_sectors = pool->second.record.extent_sectors;
  }
  // A live volume keeps its map (a reload restates only what the kernel
  // has, and the daemon changes a live map with map_set); a grow appends a
  // segment, whose extents come from the record.
  const uint64_t first_new = created ? 0 : v.extents;
  if (created) v.fenced = fenced || host_fenced_;
  v.extents = std::max(v.extents, volume.extents);
  // From the runs, not LocationOf: {0, 0} is a real location (slot 0).
  for (const Run& run : volume.runs) {
    for (uint64_t k = 0; k < run.count; ++k) {
      const uint64_t vext = run.vext + k;
      if (vext >= first_new && vext < v.extents) v.map[vext] = Location{run.dev, run.pext + k};
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<KernelExtent> ModelKernel::Read(const ExtentRef& e) {
  Tick();
  ASSIGN_OR_RETURN(Volume * v, Find(e));
  KernelExtent out;
  if (auto it = v->map.find(e.vext); it != v->map.end()) out.location = it->second;
  if (auto it = v->migrations.find(e.vext); it != v->migrations.end()) {
    out.migration = StatusOf(e.vext, it->second);
  }
  return out;
}

void ModelKernel::WaitForProgress(absl::Duration most) {
  clock_.SleepFor(std::min(most, absl::Milliseconds(10)));
}

absl::Status ModelKernel::SetLocation(const ExtentRef& e, Location to, uint64_t epoch) {
  Tick();
  return UnderEpoch(e, epoch, [&](Volume& v) {
    if (v.migrations.count(e.vext) != 0) {
      return absl::FailedPreconditionError(absl::StrCat("EBUSY: extent ", e.vext, " migrates"));
    }
    v.map[e.vext] = to;
    return absl::OkStatus();
  });
}

// ---- Migrations ----

absl::Status ModelKernel::MigrateStart(const ExtentRef& e, Location dst, MigrateMode mode,
                                       uint64_t epoch) {
  Tick();
  return UnderEpoch(e, epoch, [&](Volume& v) { return StartMigration(v, e.vext, dst, mode); });
}

absl::Status ModelKernel::StartMigration(Volume& v, uint64_t vext, Location dst,
                                         MigrateMode mode) {
  auto src = v.map.find(vext);
  if (src == v.map.end()) {
    return absl::NotFoundError(absl::StrCat("ENODEV: extent ", vext, " is unmapped"));
  }
  if (v.migrations.count(vext) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("EBUSY: extent ", vext, " migrates"));
  }
  if (v.migrations.size() >= max_migrations_) {
    return absl::FailedPreconditionError(
        absl::StrCat("EBUSY: ", max_migrations_, " migrations are running"));
  }
  if (src->second == dst) {
    return absl::InvalidArgumentError(
        absl::StrCat("EEXIST: the destination ", ToString(dst), " is the source"));
  }
  for (const auto& [other, at] : v.map) {
    if (at == dst) {
      return absl::AlreadyExistsError(
          absl::StrCat("EEXIST: ", ToString(dst), " is mapped at extent ", other));
    }
  }
  for (const auto& [other, m] : v.migrations) {
    if (m.dst == dst) {
      return absl::AlreadyExistsError(
          absl::StrCat("EEXIST: ", ToString(dst), " is the destination of extent ", other));
    }
  }
  Migration m;
  m.dst = dst;
  m.mode = mode;
  // A follower counts every region as copied from the start: all its
  // writes dual-write. Its start drain and flush take no time here.
  const bool follow = mode == MigrateMode::kFollow;
  m.state = follow ? MigrationState::kReady : MigrationState::kCopy;
  m.copied.assign(regions_per_extent_, follow);
  v.migrations.emplace(vext, std::move(m));
  return absl::OkStatus();
}

absl::StatusOr<MigrateDirty> ModelKernel::MigrateDirtyRegions(const ExtentRef& e,
                                                             uint64_t epoch) {
  Tick();
  MigrateDirty out;
  RETURN_IF_ERROR(UnderEpoch(e, epoch, [&](Volume&) -> absl::Status {
    ASSIGN_OR_RETURN(Migration * m, FindMigration(e));
    out.region_sectors = e.extent_sectors / regions_per_extent_;
    out.nr_regions = regions_per_extent_;
    for (uint32_t r : m->dirty) {
      if (!out.runs.empty() && out.runs.back().first + out.runs.back().count == r) {
        ++out.runs.back().count;
      } else {
        out.runs.push_back(DirtyRun{r, 1});
      }
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status ModelKernel::MigrateCommit(const ExtentRef& e, uint64_t epoch) {
  Tick();
  return UnderEpoch(e, epoch, [&](Volume& v) -> absl::Status {
    ASSIGN_OR_RETURN(Migration * m, FindMigration(e));
    if (m->state != MigrationState::kReady) {
      return absl::FailedPreconditionError(
          absl::StrCat("EAGAIN: the migration of extent ", e.vext, " is not ready"));
    }
    v.map[e.vext] = m->dst;
    v.migrations.erase(e.vext);
    return absl::OkStatus();
  });
}

absl::Status ModelKernel::MigrateAbort(const ExtentRef& e, uint64_t epoch) {
  Tick();
  return UnderEpoch(e, epoch, [&](Volume& v) {
    if (v.migrations.erase(e.vext) == 0) {
      return absl::NotFoundError(absl::StrCat("ENOENT: no migration on extent ", e.vext));
    }
    return absl::OkStatus();
  });
}

MigrationStatus ModelKernel::StatusOf(uint64_t vext, const Migration& m) const {
  MigrationStatus s;
  s.vext = vext;
  s.state = m.state;
  s.copied_regions = static_cast<uint64_t>(std::count(m.copied.begin(), m.copied.end(), true));
  s.regions = regions_per_extent_;
  s.errors = m.errors;
  return s;
}

// ---- The copier ----

std::vector<std::pair<std::string, uint64_t>> ModelKernel::Copiers() const {
  // A fence, or a lease past its deadline, stops the copier (1.4): no new
  // region copy, no destination write.
  std::vector<std::pair<std::string, uint64_t>> out;
  if (host_fenced_ || LeaseRanOut()) return out;
  for (const auto& [name, v] : volumes_) {
    if (v.fenced) continue;
    for (const auto& [vext, m] : v.migrations) {
      if (m.state == MigrationState::kCopy) out.emplace_back(name, vext);
    }
  }
  return out;
}

bool ModelKernel::HasCopyWork() const { return !Copiers().empty(); }

void ModelKernel::CopyStep() {
  Tick();
  for (const auto& [name, vext] : Copiers()) {
    // A hook (during_recopy_) may have ended it meanwhile.
    auto v = volumes_.find(name);
    if (v == volumes_.end()) continue;
    auto m = v->second.migrations.find(vext);
    if (m == v->second.migrations.end() || m->second.state != MigrationState::kCopy) continue;
    CopyHalfStep(v->second, vext, m->second);
  }
}

void ModelKernel::CopyHalfStep(Volume& v, uint64_t vext, Migration& m) {
  if (!m.in_flight.empty()) {
    // Second half: write what was read, however old it is by now on the
    // source (another host may have written it since).
    const std::map<uint32_t, uint64_t> copies = std::move(m.in_flight);
    m.in_flight.clear();
    if (fail_next_dst_write_) {
      fail_next_dst_write_ = false;
      ++m.errors;
      m.state = MigrationState::kFailed;  // dual-writes stop; the source rules
      return;
    }
    for (const auto& [region, value] : copies) {
      disks_.Write(host_, m.dst, region, value);
      m.copied[region] = true;
    }
    if (std::all_of(m.copied.begin(), m.copied.end(), [](bool c) { return c; })) {
      m.state = MigrationState::kReady;
      m.recopying = false;
    }
    return;
  }
  // First half: read the source of the uncopied regions.
  for (uint32_t r = 0; r < regions_per_extent_ && m.in_flight.size() < kCopyRegionsInFlight;
       ++r) {
    if (!m.copied[r]) m.in_flight.emplace(r, disks_.Read(v.map.at(vext), r));
  }
  if (m.in_flight.empty()) {
    m.state = MigrationState::kReady;
    m.recopying = false;
    return;
  }
  if (m.recopying && during_recopy_) {
    // The hook may write (and so drop a copy): a copy of the keys.
    std::vector<uint32_t> regions;
    for (const auto& [r, value] : m.in_flight) regions.push_back(r);
    for (uint32_t r : regions) during_recopy_(vext, r);
  }
}

absl::Status ModelKernel::MigrateRecopy(const ExtentRef& e, const std::vector<DirtyRun>& runs,
                                        uint64_t epoch) {
  Tick();
  return UnderEpoch(e, epoch, [&](Volume&) -> absl::Status {
    ASSIGN_OR_RETURN(Migration * m, FindMigration(e));
    if (runs.empty()) return absl::InvalidArgumentError("EINVAL: no regions");
    for (const DirtyRun& run : runs) {
      if (run.count == 0 || run.first >= regions_per_extent_ ||
          run.count > regions_per_extent_ - run.first) {
        return absl::OutOfRangeError(absl::StrCat(
            "ERANGE: regions ", run.first, "+", run.count, " lie beyond the extent"));
      }
      auto busy = m->in_flight.lower_bound(run.first);
      if (busy != m->in_flight.end() && busy->first < run.first + run.count) {
        return absl::UnavailableError(
            absl::StrCat("EBUSY: region ", busy->first, " is being copied"));
      }
    }
    if (m->state == MigrationState::kFailed) {
      return absl::FailedPreconditionError("EAGAIN: the migration is ending");
    }
    for (const DirtyRun& run : runs) {
      for (uint32_t r = run.first; r < run.first + run.count; ++r) m->copied[r] = false;
    }
    m->state = MigrationState::kCopy;
    m->recopying = true;
    return absl::OkStatus();
  });
}

// ---- Freezes ----

absl::StatusOr<uint64_t> ModelKernel::Freeze(const ExtentRef& e, uint64_t timeout_ms,
                                              uint64_t epoch) {
  Tick();
  uint64_t id = 0;
  RETURN_IF_ERROR(UnderEpoch(e, epoch, [&](Volume& v) {
    if (v.freezes.size() >= 1024) {
      return absl::FailedPreconditionError("EBUSY: 1024 freezes on the volume");
    }
    id = next_freeze_id_++;
    const absl::Duration timeout = absl::Milliseconds(static_cast<int64_t>(timeout_ms));
    v.freezes.emplace(id, FreezeEntry{e.vext, clock_.Now() + timeout});
    return absl::OkStatus();
  }));
  return id;
}

absl::Status ModelKernel::FreezeWait(const ExtentRef& e, uint64_t id, uint64_t wait_ms) {
  Tick();
  ASSIGN_OR_RETURN(Volume * v, Find(e));
  if (wait_ms > 10000) {
    return absl::InvalidArgumentError("EINVAL: freeze_wait waits at most 10000 ms");
  }
  // Writes are atomic here: nothing is ever in flight, so a freeze that
  // exists is drained.
  if (v->freezes.count(id) == 0) {
    return absl::NotFoundError(absl::StrCat("ENOENT: no freeze ", id));
  }
  return absl::OkStatus();
}

absl::Status ModelKernel::Thaw(const ExtentRef& e, uint64_t id, uint64_t epoch) {
  Tick();
  RETURN_IF_ERROR(UnderEpoch(e, epoch, [&](Volume& v) {
    if (v.freezes.erase(id) == 0) {
      return absl::NotFoundError(absl::StrCat("ENOENT: no freeze ", id));
    }
    return absl::OkStatus();
  }));
  ReleaseHeld();
  return absl::OkStatus();
}

// ---- Writes ----

bool ModelKernel::LeaseRanOut() const { return clock_.Now() >= lease_deadline_; }

bool ModelKernel::Holds(const Volume& v, uint64_t vext) const {
  if (host_fenced_ || v.fenced || LeaseRanOut()) return true;
  for (const auto& [id, f] : v.freezes) {
    if (f.vext == vext) return true;
  }
  return false;
}

WriteResult ModelKernel::Write(const std::string& volume, uint64_t vext, uint32_t region,
                               uint64_t value) {
  // Timers first, so that writes a timer released land before this one.
  Tick();
  auto it = volumes_.find(volume);
  if (it == volumes_.end() || vext >= it->second.extents || region >= regions_per_extent_) {
    return WriteResult::kError;
  }
  if (Holds(it->second, vext)) {
    held_.push_back(HeldWrite{volume, vext, region, value});
    return WriteResult::kHeld;
  }
  return Land(volume, vext, region, value);
}

WriteResult ModelKernel::Land(const std::string& name, uint64_t vext, uint32_t region,
                              uint64_t value) {
  auto vit = volumes_.find(name);
  if (vit == volumes_.end()) return WriteResult::kError;
  Volume& v = vit->second;
  auto at = v.map.find(vext);
  if (at == v.map.end()) return WriteResult::kError;
  disks_.Write(host_, at->second, region, value);
  if (auto mit = v.migrations.find(vext); mit != v.migrations.end()) {
    Migration& m = mit->second;
    m.dirty.insert(region);  // every write mapped through a migration
    // A follower's regions all count as copied, except those a re-copy
    // has not copied yet.
    bool to_dst = false;
    if (m.state != MigrationState::kFailed) {
      // The kernel makes a write to a region being copied wait for the
      // copy; the model instead drops the copy, which reads again later.
      m.in_flight.erase(region);
      to_dst = m.copied[region];
    }
    if (to_dst) disks_.Write(host_, m.dst, region, value);
  }
  if (on_ack_) on_ack_(name, vext, region, value);
  return WriteResult::kAcked;
}

void ModelKernel::ReleaseHeld() {
  // In arrival order; a write still held keeps its place. The queue is
  // searched again after every landing, since the ack callback may write.
  for (;;) {
    auto it = std::find_if(held_.begin(), held_.end(), [this](const HeldWrite& w) {
      auto v = volumes_.find(w.volume);
      return v == volumes_.end() || !Holds(v->second, w.vext);
    });
    if (it == held_.end()) return;
    const HeldWrite w = std::move(*it);
    held_.erase(it);
    // kError (unmapped meanwhile): the write fails, never acknowledged.
    (void)Land(w.volume, w.vext, w.region, w.value);
  }
}

// ---- Host state ----

void ModelKernel::Lease(absl::Duration d) {
  Tick();  // a renewal that finds the lease run out fences first
  lease_deadline_ = d > absl::ZeroDuration() ? clock_.Now() + d : absl::InfiniteFuture();
  lease_expired_ = false;
}

void ModelKernel::Fence() {
  Tick();
  host_fenced_ = true;
  for (auto& [name, v] : volumes_) v.fenced = true;
}

absl::Status ModelKernel::Unfence(uint64_t epoch) {
  Tick();
  // Every volume's check before any change: a refused unfence changes
  // nothing, the epochs included.
  for (const auto& [name, v] : volumes_) RETURN_IF_ERROR(CheckEpoch(v, name, epoch));
  if (lease_expired_) {
    return absl::DeadlineExceededError(
        absl::StrCat("ETIMEDOUT: the lease of ", host_, " ran out; renew it first"));
  }
  host_fenced_ = false;
  for (auto& [name, v] : volumes_) {
    v.fenced = false;
    v.epoch = std::max(v.epoch, epoch);
  }
  ReleaseHeld();
  return absl::OkStatus();
}

bool ModelKernel::fenced() const {
  if (host_fenced_) return true;
  for (const auto& [name, v] : volumes_) {
    if (v.fenced) return true;
  }
  return false;
}

bool ModelKernel::writable() const { return !fenced() && !LeaseRanOut(); }

void ModelKernel::Tick() {
  const absl::Time now = clock_.Now();
  for (auto& [name, v] : volumes_) {
    std::erase_if(v.freezes, [now](const auto& f) { return now >= f.second.thaws_at; });
  }
  if (!lease_expired_ && now >= lease_deadline_) {
    lease_expired_ = true;
    host_fenced_ = true;
    for (auto& [name, v] : volumes_) v.fenced = true;
  }
  ReleaseHeld();
}

void ModelKernel::Crash() {
  volumes_.clear();
  held_.clear();  // never acknowledged
  host_fenced_ = false;
  lease_deadline_ = absl::InfiniteFuture();
  lease_expired_ = false;
}

void ModelKernel::BreakFreezes() {
  Tick();
  for (auto& [name, v] : volumes_) v.freezes.clear();
  ReleaseHeld();
}

// ---- Devices (DevicePort) ----

std::string ModelKernel::DeviceName(const VolumeRecord& volume) { return NameOf(volume); }

absl::StatusOr<bool> ModelKernel::DeviceExists(const std::string& device) {
  return volumes_.count(device) != 0;
}

absl::Status ModelKernel::ActivateDevice(const Snapshot& snap, const VolumeRecord& volume,
                                         bool fenced) {
  return Load(snap, volume, fenced);
}

absl::StatusOr<ModelKernel::SegmentOf> ModelKernel::FindSegment(const SegmentAt& at) {
  auto it = volumes_.find(at.device);
  if (it == volumes_.end()) {
    return absl::NotFoundError(absl::StrCat("ENXIO: no device ", at.device, " on ", host_));
  }
  Volume& v = it->second;
  std::vector<Segment> segments = v.segments;
  if (segments.empty()) segments.push_back(Segment{0, v.extents});
  for (const Segment& seg : segments) {
    if (seg.first_vext * v.extent_sectors == at.sector &&
        (v.extent_sectors != 0 || seg.first_vext == 0)) {
      return SegmentOf{at.device, &v, seg};
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("EINVAL: ", at.device, " has no segment at sector ", at.sector));
}

absl::Status ModelKernel::UnderSegmentEpoch(const SegmentAt& at, uint64_t epoch,
                                            const std::function<absl::Status(SegmentOf&)>& act) {
  ASSIGN_OR_RETURN(SegmentOf s, FindSegment(at));
  if (epoch == 0) return act(s);
  RETURN_IF_ERROR(CheckEpoch(*s.volume, s.name, epoch));
  RETURN_IF_ERROR(act(s));
  s.volume->epoch = std::max(s.volume->epoch, epoch);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SegmentState>> ModelKernel::DeviceSegments(const std::string& device) {
  Tick();
  auto it = volumes_.find(device);
  if (it == volumes_.end()) {
    return absl::NotFoundError(absl::StrCat("ENXIO: no device ", device, " on ", host_));
  }
  const Volume& v = it->second;
  std::vector<Segment> segments = v.segments;
  if (segments.empty()) segments.push_back(Segment{0, v.extents});
  std::vector<SegmentState> out;
  for (const Segment& seg : segments) {
    auto in = [&seg](uint64_t vext) {
      return vext >= seg.first_vext && vext < seg.first_vext + seg.extents;
    };
    SegmentState state;
    for (const auto& [id, f] : v.freezes) {
      if (in(f.vext)) {
        state.freezes.push_back(
            FreezeStatus{id, f.vext - seg.first_vext, 1, FreezeState::kDrained});
      }
    }
    for (const auto& [vext, m] : v.migrations) {
      if (in(vext)) state.migrations.push_back(StatusOf(vext - seg.first_vext, m));
    }
    out.push_back(std::move(state));
  }
  return out;
}

absl::StatusOr<std::vector<Run>> ModelKernel::SegmentMap(const SegmentAt& at, uint64_t extents) {
  Tick();
  ASSIGN_OR_RETURN(SegmentOf s, FindSegment(at));
  std::vector<Run> out;
  for (uint64_t v = 0; v < extents && v < s.segment.extents; ++v) {
    auto it = s.volume->map.find(s.segment.first_vext + v);
    if (it == s.volume->map.end()) continue;
    out.push_back(Run{v, it->second.dev, it->second.pext, 1});
  }
  return out;
}

absl::Status ModelKernel::SetSegmentMap(const SegmentAt& at, const std::vector<MapSetItem>& items,
                                        uint64_t epoch) {
  Tick();
  // The freeze the daemon takes around its map_set drains at once here
  // (writes are atomic); what it held lands on the new map.
  RETURN_IF_ERROR(UnderSegmentEpoch(at, epoch, [&](SegmentOf& s) -> absl::Status {
    for (const MapSetItem& item : items) {
      if (item.count == 0 || item.vext + item.count > s.segment.extents) {
        return absl::InvalidArgumentError(
            absl::StrCat("ERANGE: ", ToString(item), " beyond the segment"));
      }
      for (uint64_t k = 0; k < item.count; ++k) {
        if (s.volume->migrations.count(s.segment.first_vext + item.vext + k) != 0) {
          return absl::FailedPreconditionError(
              absl::StrCat("EBUSY: extent ", s.segment.first_vext + item.vext + k, " migrates"));
        }
      }
    }
    for (const MapSetItem& item : items) {
      for (uint64_t k = 0; k < item.count; ++k) {
        const uint64_t vext = s.segment.first_vext + item.vext + k;
        if (item.target.has_value()) {
          s.volume->map[vext] = Location{item.target->dev, item.target->pext + k};
        } else {
          s.volume->map.erase(vext);
        }
      }
    }
    return absl::OkStatus();
  }));
  ReleaseHeld();
  return absl::OkStatus();
}

absl::Status ModelKernel::ThawSegment(const SegmentAt& at, uint64_t id, uint64_t epoch) {
  Tick();
  RETURN_IF_ERROR(UnderSegmentEpoch(at, epoch, [&](SegmentOf& s) {
    if (s.volume->freezes.erase(id) == 0) {
      return absl::NotFoundError(absl::StrCat("ENOENT: no freeze ", id));
    }
    return absl::OkStatus();
  }));
  ReleaseHeld();
  return absl::OkStatus();
}

absl::Status ModelKernel::AbortSegmentMigration(const SegmentAt& at, uint64_t vext,
                                                uint64_t epoch) {
  Tick();
  return UnderSegmentEpoch(at, epoch, [&](SegmentOf& s) {
    if (vext >= s.segment.extents || s.volume->migrations.erase(s.segment.first_vext + vext) == 0) {
      return absl::NotFoundError(absl::StrCat("ENOENT: no migration on extent ", vext));
    }
    return absl::OkStatus();
  });
}

absl::Status ModelKernel::ThawChangeFreeze(const ExtentRef& e, uint64_t id, uint64_t epoch) {
  return Thaw(e, id, epoch);
}

absl::Status ModelKernel::LeaseSegment(const SegmentAt& at, uint64_t lease_ms) {
  Tick();
  RETURN_IF_ERROR(FindSegment(at).status());
  Lease(absl::Milliseconds(static_cast<int64_t>(lease_ms)));
  return absl::OkStatus();
}

absl::Status ModelKernel::FenceSegment(const SegmentAt& at) {
  Tick();
  ASSIGN_OR_RETURN(SegmentOf s, FindSegment(at));
  s.volume->fenced = true;
  return absl::OkStatus();
}

absl::Status ModelKernel::UnfenceSegment(const SegmentAt& at, uint64_t epoch) {
  Tick();
  ASSIGN_OR_RETURN(SegmentOf s, FindSegment(at));
  RETURN_IF_ERROR(CheckEpoch(*s.volume, s.name, epoch));
  if (lease_expired_) {
    return absl::DeadlineExceededError(
        absl::StrCat("ETIMEDOUT: the lease of ", host_, " ran out; renew it first"));
  }
  host_fenced_ = false;
  s.volume->fenced = false;
  s.volume->epoch = std::max(s.volume->epoch, epoch);
  ReleaseHeld();
  return absl::OkStatus();
}

// ---- Inspection ----

bool ModelKernel::HasVolume(const std::string& volume) const {
  return volumes_.count(volume) != 0;
}

std::optional<Location> ModelKernel::MapOf(const std::string& volume, uint64_t vext) const {
  auto v = volumes_.find(volume);
  if (v == volumes_.end()) return std::nullopt;
  auto at = v->second.map.find(vext);
  if (at == v->second.map.end()) return std::nullopt;
  return at->second;
}

std::map<uint64_t, ModelMigration> ModelKernel::MigrationsOf(const std::string& volume) const {
  std::map<uint64_t, ModelMigration> out;
  auto v = volumes_.find(volume);
  if (v == volumes_.end()) return out;
  for (const auto& [vext, m] : v->second.migrations) {
    out[vext] = ModelMigration{m.dst, m.mode, StatusOf(vext, m),
                               std::vector<uint32_t>(m.dirty.begin(), m.dirty.end())};
  }
  return out;
}

std::vector<FreezeStatus> ModelKernel::FreezesOf(const std::string& volume) const {
  std::vector<FreezeStatus> out;
  auto v = volumes_.find(volume);
  if (v == volumes_.end()) return out;
  for (const auto& [id, f] : v->second.freezes) {
    out.push_back(FreezeStatus{id, f.vext, 1, FreezeState::kDrained});
  }
  return out;
}

}  // namespace cvol::daemon::sim
