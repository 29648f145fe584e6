// HostDevices (host_devices.h) against the model kernel: re-integration
// unfences a volume only once its map is etcd's, never while a move of it
// is taken up, never without a lease counted from a fresh renewal, and
// under the current epoch; it thaws what nobody else would thaw and ends
// migrations nobody records; the fence reaches every tracked device. A
// device is created fenced and unfenced only after its lease is armed.
#include "host_devices.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "config_db.h"
#include "cvol/store/mem_kv_store.h"
#include "fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model_kernel.h"
#include "peer_handlers.h"
#include "volume_layout.h"

namespace cvol::daemon::sim {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kPrefix[] = "/cvol/";
constexpr uint64_t kExtentSectors = 2048;
constexpr uint32_t kRegions = 4;
const absl::Duration kSpan = absl::Seconds(3);  // 3/4 of a 4 s TTL

// The model kernel as HostDevices reaches it, with a log of the calls that
// create, arm, fence and unfence (and whether the device was fenced when
// each came), a lease that can be made to fail, and creation that can be

// The volume grown by two extents: a second segment, a kernel volume of
// its own.
VolumeRecord Grown(VolumeRecord v) {
  v.extents = 6;
  v.segments = {Segment{0, 4}, Segment{4, 2}};
  v.runs = {cvol::Run{0, 0, 0, 4}, cvol::Run{4, 0, 4, 2}};
  return v;
}
// made to take a while.
class RecordingPort final : public DevicePort {
 public:
  RecordingPort(ModelKernel& kernel, FakeClock& clock) : kernel_(kernel), clock_(clock) {}

  std::vector<std::string>& calls() { return calls_; }
  void fail_next_lease() { fail_next_lease_ = true; }
  void set_create_takes(absl::Duration d) { create_takes_ = d; }

  std::string DeviceName(const VolumeRecord& volume) override {
    return kernel_.DeviceName(volume);
  }
  absl::StatusOr<bool> DeviceExists(const std::string& device) override {
    return kernel_.DeviceExists(device);
  }
  absl::Status ActivateDevice(const Snapshot& snap, const VolumeRecord& volume,
                              bool fenced) override {
    const bool created = !kernel_.HasVolume(DeviceName(volume));
    calls_.push_back(absl::StrCat(created ? "create" : "reload", fenced ? " fenced" : ""));
    clock_.SleepFor(create_takes_);
    return kernel_.ActivateDevice(snap, volume, fenced);
  }
  absl::StatusOr<std::vector<SegmentState>> DeviceSegments(const std::string& device) override {
    return kernel_.DeviceSegments(device);
  }
  absl::StatusOr<std::vector<Run>> SegmentMap(const SegmentAt& at, uint64_t extents) override {
    return kernel_.SegmentMap(at, extents);
  }
  absl::Status SetSegmentMap(const SegmentAt& at, const std::vector<MapSetItem>& items,
                             uint64_t epoch) override {
    return kernel_.SetSegmentMap(at, items, epoch);
  }
  absl::Status ThawSegment(const SegmentAt& at, uint64_t id, uint64_t epoch) override {
    return kernel_.ThawSegment(at, id, epoch);
  }
  absl::Status AbortSegmentMigration(const SegmentAt& at, uint64_t vext,
                                     uint64_t epoch) override {
    return kernel_.AbortSegmentMigration(at, vext, epoch);
  }
  absl::Status ThawChangeFreeze(const ExtentRef& e, uint64_t id, uint64_t epoch) override {
    return kernel_.ThawChangeFreeze(e, id, epoch);
  }
  absl::Status LeaseSegment(const SegmentAt& at, uint64_t lease_ms) override {
    calls_.push_back(absl::StrCat("lease ", at.sector, " ", lease_ms, Fenced()));
    if (std::exchange(fail_next_lease_, false)) return absl::InternalError("EIO: lease");
    return kernel_.LeaseSegment(at, lease_ms);
  }
  absl::Status FenceSegment(const SegmentAt& at) override {
    calls_.push_back(absl::StrCat("fence ", at.sector));
    return kernel_.FenceSegment(at);
  }
  absl::Status UnfenceSegment(const SegmentAt& at, uint64_t epoch) override {
    calls_.push_back(absl::StrCat("unfence ", at.sector, " ", epoch, Fenced()));
    return kernel_.UnfenceSegment(at, epoch);
  }

  void DeviceUnfenced(const std::string& device) override {
    calls_.push_back(absl::StrCat("probe ", device));
  }

 private:
  std::string Fenced() const { return kernel_.fenced() ? " (fenced)" : " (live)"; }

  ModelKernel& kernel_;
  FakeClock& clock_;
  std::vector<std::string> calls_;
  bool fail_next_lease_ = false;
  absl::Duration create_takes_;
};

VolumeRecord Volume(const std::string& name, uint64_t first_pext) {
  VolumeRecord v;
  v.pool = "p";
  v.name = name;
  v.uuid = name + "-uuid";
  v.extents = 4;
  v.segments = {Segment{0, 4}};
  v.runs = {cvol::Run{0, 0, first_pext, 4}};
  return v;
}

class HostDevicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ChangeSet cs(db_);
    cs.CreatePool(PoolRecord{"p", "pool-uuid", kExtentSectors, 1, 1});
    for (uint32_t slot = 0; slot < 2; ++slot) {
      cs.CreatePv(PvRecord{"pv-uuid-" + std::to_string(slot), "pv" + std::to_string(slot), "p",
                           slot, 16, 2048, 17 * kExtentSectors});
    }
    cs.CreateVolume(Volume("v", 0));
    ASSERT_TRUE(db_.Commit(cs).ok());
    HostDevices::Deps d;
    d.db = &db_;
    d.port = &port_;
    d.clock = &clock_;
    d.host = [] { return std::string("h1"); };
    d.publish = [this](nlohmann::json event) { events_.push_back(std::move(event)); };
    devices_ = std::make_unique<HostDevices>(std::move(d));
  }

  Snapshot Load() {
    absl::StatusOr<Snapshot> snap = db_.Load();
    EXPECT_TRUE(snap.ok()) << snap.status();
    return *snap;
  }

  // The device as a previous daemon left it: serving `as_kernel`, tracked,
  // then fenced (its daemon lost the lease).
  void LiveDeviceFenced(const VolumeRecord& as_kernel) {
    ASSERT_TRUE(kernel_.Activate(Load(), as_kernel).ok());
    devices_->Track(as_kernel, kExtentSectors);
    devices_->FenceAll();
    ASSERT_TRUE(kernel_.fenced());
  }

  // etcd moves extent `vext` of p/v to `to` (another host's change).
  void SetEtcdExtent(uint64_t vext, Location to) {
    Snapshot snap = Load();
    const Versioned<VolumeRecord>& old = snap.volumes.at({"p", "v"});
    VolumeRecord updated = old.record;
    std::vector<cvol::Run> runs;
    for (uint64_t v = 0; v < updated.extents; ++v) {
      const Location at = v == vext ? to : LocationOf(old.record, v);
      runs.push_back(cvol::Run{v, at.dev, at.pext, 1});
    }
    updated.runs = runs;
    ChangeSet cs(db_);
    cs.ChangeAllocation(snap.pools.at("p"));
    cs.UpdateVolume(old, updated);
    ASSERT_TRUE(db_.Commit(cs).ok());
  }

  void RecordMove(uint64_t vext, MoveRecord::Step step) {
    Snapshot snap = Load();
    MoveRecord m;
    m.pool = "p";
    m.volume = "v";
    m.volume_uuid = "v-uuid";
    m.vext = vext;
    m.src = Location{0, vext};
    m.dst = Location{1, 8 + vext};
    m.started_ns = 1000;
    m.step = step;
    ChangeSet cs(db_);
    cs.ChangeAllocation(snap.pools.at("p"));
    cs.CreateMove(m);
    ASSERT_TRUE(db_.Commit(cs).ok());
  }

  HostDevices::LeaseBasis FreshLease() { return {clock_.Now(), kSpan}; }

  absl::Status Reintegrate(int64_t epoch) {
    return devices_->Reintegrate(epoch, held_, FreshLease());
  }

  // What an active member passes (the fence count read first).
  HostDevices::UnfenceUnder Under(int64_t epoch, HostDevices::LeaseBasis lease) {
    return HostDevices::UnfenceUnder{epoch, lease, devices_->Fences()};
  }
  absl::Status Activate(const VolumeRecord& v, const HostDevices::UnfenceUnder& under) {
    return devices_->Activate(Load(), v, kExtentSectors, under);
  }

  std::vector<std::string> EventTypes() const {
    std::vector<std::string> out;
    for (const nlohmann::json& e : events_) out.push_back(e.value("type", ""));
    return out;
  }

  ExtentRef Extent(uint64_t vext) { return ExtentRef{Volume("v", 0), kExtentSectors, vext}; }

  FakeClock clock_;
  store::MemKvStore kv_{store::MemKvStore::Options{[this] { return clock_.Now(); }, 2}};
  ConfigDb db_{kv_, kPrefix};
  ModelDisks disks_{clock_};
  ModelKernel kernel_{"h1", disks_, clock_, kRegions};
  RecordingPort port_{kernel_, clock_};
  std::unique_ptr<HostDevices> devices_;
  HostDevices::HeldFreezes held_;
  std::vector<nlohmann::json> events_;
};

// A write held by the fence lands where etcd maps the extent: the map is
// set before the unfence releases it. Unfenced first, it would land on the
// extent's old place, which belongs to nobody any more.
TEST_F(HostDevicesTest, TheHeldWritesLandOnEtcdsMap) {
  LiveDeviceFenced(Volume("v", 0));
  SetEtcdExtent(1, Location{1, 9});
  ASSERT_EQ(kernel_.Write("p/v", 1, 2, 42), WriteResult::kHeld);

  ASSERT_TRUE(Reintegrate(7).ok());

  EXPECT_EQ(kernel_.MapOf("p/v", 1), (Location{1, 9}));
  EXPECT_EQ(disks_.Read(Location{1, 9}, 2), 42u);
  EXPECT_EQ(disks_.Read(Location{0, 1}, 2), 0u);
  EXPECT_TRUE(kernel_.writable());
  EXPECT_EQ(kernel_.held_writes(), 0u);
  EXPECT_EQ(kernel_.EpochOf("p/v"), 7u);
  ASSERT_EQ(EventTypes().back(), "host_reintegrated");
  EXPECT_EQ(events_.back()["epoch"].get<uint64_t>(), 7u);
  EXPECT_EQ(events_.back()["host"].get<std::string>(), "h1");
}

// A host that missed the start of a migration must not write until it is
// over: the volume stays fenced and its writes held, and the agent retries.
TEST_F(HostDevicesTest, AVolumeWithAMoveTakenUpStaysFenced) {
  LiveDeviceFenced(Volume("v", 0));
  RecordMove(0, MoveRecord::Step::kFollow);
  ASSERT_EQ(kernel_.Write("p/v", 0, 1, 5), WriteResult::kHeld);

  absl::Status s = Reintegrate(7);

  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("volume p/v has a move in progress; waiting"));
  EXPECT_TRUE(kernel_.fenced());
  EXPECT_FALSE(kernel_.writable());
  EXPECT_EQ(kernel_.held_writes(), 1u);
  EXPECT_EQ(disks_.Read(Location{0, 0}, 1), 0u);
  EXPECT_THAT(EventTypes(), ::testing::Not(::testing::Contains("host_reintegrated")));
}

// A queued move (no step recorded yet) runs no migration anywhere: it holds
// nobody back.
TEST_F(HostDevicesTest, AQueuedMoveHoldsNobodyBack) {
  LiveDeviceFenced(Volume("v", 0));
  RecordMove(0, MoveRecord::Step::kNone);
  ASSERT_TRUE(Reintegrate(7).ok());
  EXPECT_TRUE(kernel_.writable());
}

// A dead predecessor's freeze (nobody holds it) and the freeze of a change
// that ended without this host are thawed; the freeze of a change still
// recorded stays for its release. A migration without a record is ended.
TEST_F(HostDevicesTest, ThawsWhatNobodyElseWillAndEndsUnrecordedMigrations) {
  LiveDeviceFenced(Volume("v", 0));
  absl::StatusOr<uint64_t> orphan = kernel_.Freeze(Extent(2), 30000, 0);
  absl::StatusOr<uint64_t> ended = kernel_.Freeze(Extent(3), 30000, 0);
  absl::StatusOr<uint64_t> live = kernel_.Freeze(Extent(0), 30000, 0);
  ASSERT_TRUE(orphan.ok() && ended.ok() && live.ok());
  RecordMove(0, MoveRecord::Step::kNone);  // queued: its record stays
  const std::string live_change = db_.MoveKey("p", "v", 0) + "#1000";
  const std::string ended_change = db_.MoveKey("p", "v", 3) + "#999";
  held_[live_change] = PeerHandlers::HeldFreeze{Extent(0), *live};
  held_[ended_change] = PeerHandlers::HeldFreeze{Extent(3), *ended};
  ASSERT_TRUE(kernel_.MigrateStart(Extent(1), Location{1, 3}, MigrateMode::kFollow, 0).ok());

  ASSERT_TRUE(Reintegrate(7).ok());

  const std::vector<FreezeStatus> left = kernel_.FreezesOf("p/v");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id, *live);
  EXPECT_EQ(held_.count(live_change), 1u);
  EXPECT_EQ(held_.count(ended_change), 0u);
  EXPECT_THAT(kernel_.MigrationsOf("p/v"), IsEmpty());
  std::map<std::string, nlohmann::json> by_type;
  for (const nlohmann::json& e : events_) by_type[e.value("type", "")] = e;
  EXPECT_EQ(by_type["cluster_released"]["change"].get<std::string>(), ended_change);
  EXPECT_EQ(by_type["orphan_freeze_thawed"]["freeze_id"].get<uint64_t>(), *orphan);
  EXPECT_EQ(by_type["orphan_freeze_thawed"]["vext"].get<uint64_t>(), 2u);
  EXPECT_EQ(by_type["orphan_freeze_thawed"]["device"].get<std::string>(), "p/v");
}

// The volume saw a newer Primary: the unfence is refused, the error says
// why, and the volume stays fenced.
TEST_F(HostDevicesTest, AnOlderEpochDoesNotUnfence) {
  LiveDeviceFenced(Volume("v", 0));
  absl::StatusOr<uint64_t> f = kernel_.Freeze(Extent(0), 30000, 9);
  ASSERT_TRUE(f.ok());
  held_["c#1"] = PeerHandlers::HeldFreeze{Extent(0), *f};  // its change is over

  absl::Status s = Reintegrate(7);

  EXPECT_TRUE(IsStaleEpoch(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("p/v has seen a newer cluster epoch than 7"));
  EXPECT_TRUE(kernel_.fenced());
  // The thaw under the old epoch was refused too: the freeze is still known.
  EXPECT_EQ(held_.count("c#1"), 1u);
}

// Never an unfence under a lease counted from a renewal too old: nothing is
// unfenced. With a fresh one the lease is armed and ends on time.
TEST_F(HostDevicesTest, NeverUnfencesWithoutALeaseFromAFreshRenewal) {
  LiveDeviceFenced(Volume("v", 0));
  const HostDevices::LeaseBasis old{clock_.Now() - kSpan, kSpan};

  absl::Status s = devices_->Reintegrate(7, held_, old);

  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("too old"));
  EXPECT_TRUE(kernel_.fenced());

  const HostDevices::LeaseBasis fresh{clock_.Now() - absl::Seconds(1), kSpan};
  ASSERT_TRUE(devices_->Reintegrate(7, held_, fresh).ok());
  EXPECT_TRUE(kernel_.writable());
  clock_.SleepFor(absl::Seconds(2) - absl::Milliseconds(1));
  kernel_.Tick();
  EXPECT_TRUE(kernel_.writable());
  clock_.SleepFor(absl::Milliseconds(2));
  kernel_.Tick();
  EXPECT_FALSE(kernel_.writable());  // the kernel fenced itself on time
}

// A rebooted host has no device: it is made fenced from etcd's map,
// tracked, and unfenced only under a lease.
TEST_F(HostDevicesTest, CreatesAMissingDeviceFromEtcdsMap) {
  SetEtcdExtent(2, Location{1, 7});

  ASSERT_TRUE(Reintegrate(7).ok());

  EXPECT_THAT(port_.calls(),
              ElementsAre("create fenced", "lease 0 3000 (fenced)", "unfence 0 7 (fenced)",
                          "probe p/v"));
  EXPECT_EQ(kernel_.MapOf("p/v", 2), (Location{1, 7}));
  EXPECT_EQ(devices_->Devices(), std::vector<std::string>{"p/v"});
  EXPECT_TRUE(kernel_.writable());
  EXPECT_EQ(kernel_.EpochOf("p/v"), 7u);
  clock_.SleepFor(kSpan);
  kernel_.Tick();
  EXPECT_FALSE(kernel_.writable());
}

// The kernel makes a device unfenced: not under a renewal too old to give
// it a lease.
TEST_F(HostDevicesTest, MakesNoDeviceUnderALeaseTooOld) {
  const HostDevices::LeaseBasis old{clock_.Now() - kSpan, kSpan};

  absl::Status s = devices_->Reintegrate(7, held_, old);

  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(kernel_.HasVolume("p/v"));
  EXPECT_THAT(devices_->Devices(), IsEmpty());
}

// An active member's device (a volume another host created): created
// fenced, its lease armed, then unfenced under the epoch -- in that order,
// so that a daemon dying at any point leaves a device that either writes
// nowhere or runs under a lease. Tracked: the fence reaches it.
TEST_F(HostDevicesTest, ACreatedDeviceIsFencedUntilItsLeaseIsArmed) {
  ASSERT_TRUE(Activate(Volume("v", 0), Under(7, FreshLease())).ok());

  EXPECT_THAT(port_.calls(),
              ElementsAre("create fenced", "lease 0 3000 (fenced)", "unfence 0 7 (fenced)",
                          "probe p/v"));
  EXPECT_TRUE(kernel_.writable());
  EXPECT_EQ(kernel_.EpochOf("p/v"), 7u);
  EXPECT_FALSE(devices_->AwaitsUnfence("p/v"));
  devices_->FenceAll();
  EXPECT_EQ(kernel_.Write("p/v", 0, 0, 1), WriteResult::kHeld);
}

// The lease runs out on time: the device never wrote without one.
TEST_F(HostDevicesTest, ACreatedDeviceRunsUnderItsLease) {
  const HostDevices::LeaseBasis basis{clock_.Now() - absl::Seconds(1), kSpan};
  ASSERT_TRUE(Activate(Volume("v", 0), Under(7, basis)).ok());
  clock_.SleepFor(absl::Seconds(2) - absl::Milliseconds(1));
  kernel_.Tick();
  EXPECT_TRUE(kernel_.writable());
  clock_.SleepFor(absl::Milliseconds(2));
  kernel_.Tick();
  EXPECT_FALSE(kernel_.writable());
}

// A lease that cannot be armed: the device stays fenced, its writes held,
// and the next activation (the next sync) unfences it.
TEST_F(HostDevicesTest, AFailedLeaseLeavesTheCreatedDeviceFenced) {
  port_.fail_next_lease();

  absl::Status s = Activate(Volume("v", 0), Under(7, FreshLease()));

  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(port_.calls(), ElementsAre("create fenced", "lease 0 3000 (fenced)", "fence 0"));
  EXPECT_TRUE(kernel_.HasVolume("p/v"));
  EXPECT_FALSE(kernel_.writable());
  EXPECT_EQ(kernel_.Write("p/v", 1, 0, 5), WriteResult::kHeld);
  EXPECT_TRUE(devices_->AwaitsUnfence("p/v"));

  port_.calls().clear();
  ASSERT_TRUE(Activate(Volume("v", 0), Under(7, FreshLease())).ok());
  EXPECT_THAT(port_.calls(),
              ElementsAre("reload fenced", "lease 0 3000 (fenced)", "unfence 0 7 (fenced)",
                          "probe p/v"));
  EXPECT_TRUE(kernel_.writable());
  EXPECT_EQ(disks_.Read(Location{0, 1}, 0), 5u);
  EXPECT_FALSE(devices_->AwaitsUnfence("p/v"));
}

// The renewal it relies on grew too old while the device was made: no
// lease can be armed, so it stays fenced; re-integration, which finds it,
// unfences it.
TEST_F(HostDevicesTest, ADeviceCreatedAsTheLeaseBasisRunsOutStaysFenced) {
  port_.set_create_takes(kSpan);

  absl::Status s = Activate(Volume("v", 0), Under(7, FreshLease()));

  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("too old"));
  EXPECT_THAT(port_.calls(), ElementsAre("create fenced", "fence 0"));
  EXPECT_FALSE(kernel_.writable());
  EXPECT_TRUE(devices_->AwaitsUnfence("p/v"));

  port_.set_create_takes(absl::ZeroDuration());
  ASSERT_TRUE(Reintegrate(8).ok());
  EXPECT_TRUE(kernel_.writable());
  EXPECT_EQ(kernel_.EpochOf("p/v"), 8u);
  EXPECT_FALSE(devices_->AwaitsUnfence("p/v"));
}

// The same in re-integration: the device it made stays fenced and the
// next attempt unfences it.
TEST_F(HostDevicesTest, ReintegrationLeavesADeviceFencedWhenTheBasisRunsOut) {
  port_.set_create_takes(kSpan);
  EXPECT_EQ(Reintegrate(7).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(kernel_.HasVolume("p/v"));
  EXPECT_FALSE(kernel_.writable());

  port_.set_create_takes(absl::ZeroDuration());
  ASSERT_TRUE(Reintegrate(7).ok());
  EXPECT_TRUE(kernel_.writable());
}

// Under a basis too old nothing is made at all.
TEST_F(HostDevicesTest, ActivateMakesNoDeviceUnderALeaseTooOld) {
  const HostDevices::LeaseBasis old{clock_.Now() - kSpan, kSpan};

  absl::Status s = Activate(Volume("v", 0), Under(7, old));

  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(kernel_.HasVolume("p/v"));
  EXPECT_THAT(port_.calls(), IsEmpty());
}

// The host fenced itself after the caller found it active: the fence wins
// (nothing unfences a device after FenceAll), and re-integration unfences
// the new device with the others.
TEST_F(HostDevicesTest, AFenceSinceTheCallerLookedWins) {
  const HostDevices::UnfenceUnder under = Under(7, FreshLease());
  devices_->FenceAll();

  absl::Status s = Activate(Volume("v", 0), under);

  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("fenced its devices meanwhile"));
  EXPECT_THAT(port_.calls(), ElementsAre("create fenced", "lease 0 3000 (fenced)", "fence 0"));
  EXPECT_FALSE(kernel_.writable());

  ASSERT_TRUE(Reintegrate(7).ok());
  EXPECT_TRUE(kernel_.writable());
  EXPECT_FALSE(devices_->AwaitsUnfence("p/v"));
}

// A grow appends a segment, a kernel volume of its own: it is created
// fenced like a device, and only it is armed and unfenced. A reload that
// creates nothing (a new pv's slot) touches no lease and no fence, and
// needs no fresh basis.
TEST_F(HostDevicesTest, AGrowArmsAndUnfencesOnlyItsNewSegment) {
  ASSERT_TRUE(Activate(Volume("v", 0), Under(7, FreshLease())).ok());
  const VolumeRecord grown = Grown(Volume("v", 0));
  port_.calls().clear();

  ASSERT_TRUE(Activate(grown, Under(8, FreshLease())).ok());

  EXPECT_THAT(port_.calls(), ElementsAre("reload fenced", "lease 8192 3000 (live)",
                                         "unfence 8192 8 (live)", "probe p/v"));
  EXPECT_EQ(kernel_.MapOf("p/v", 5), (Location{0, 5}));

  port_.calls().clear();
  const HostDevices::LeaseBasis old{clock_.Now() - kSpan, kSpan};
  ASSERT_TRUE(Activate(grown, Under(8, old)).ok());
  EXPECT_THAT(port_.calls(), ElementsAre("reload fenced"));
  EXPECT_TRUE(kernel_.writable());
}

// As at re-integration: no device is made while a move of its volume is
// taken up (it would write the moving extent without following the move).
TEST_F(HostDevicesTest, ActivateMakesNoDeviceWhileAMoveIsTakenUp) {
  RecordMove(1, MoveRecord::Step::kCopy);

  absl::Status s = Activate(Volume("v", 0), Under(7, FreshLease()));

  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(kernel_.HasVolume("p/v"));
  EXPECT_THAT(port_.calls(), IsEmpty());
}

// A segment a reload appended while the host was not active (created
// fenced, nobody to unfence it) is unfenced by the next Activate.
TEST_F(HostDevicesTest, ASegmentAppendedWhileNotActiveIsUnfencedLater) {
  ASSERT_TRUE(Activate(Volume("v", 0), Under(7, FreshLease())).ok());
  const VolumeRecord grown = Grown(Volume("v", 0));
  ASSERT_TRUE(port_.ActivateDevice(Load(), grown, /*fenced=*/true).ok());  // the inactive reload
  devices_->AwaitUnfence("p/v", 1);
  port_.calls().clear();

  ASSERT_TRUE(Activate(grown, Under(8, FreshLease())).ok());

  // The model fences per device, not per segment: the appended segment
  // shows as live there (the kernel creates it fenced).
  EXPECT_THAT(port_.calls(), ElementsAre("reload fenced", "lease 8192 3000 (live)",
                                         "unfence 8192 8 (live)", "probe p/v"));
  EXPECT_FALSE(devices_->AwaitsUnfence("p/v"));
}

// The fence reaches every tracked device and no other; the renewal too.
TEST_F(HostDevicesTest, FenceAndRenewalReachEveryTrackedDevice) {
  VolumeRecord w = Volume("w", 4);
  for (const VolumeRecord& v : {Volume("v", 0), w}) {
    ASSERT_TRUE(kernel_.Activate(Load(), v).ok());
    devices_->Track(v, kExtentSectors);
  }
  devices_->FenceAll();
  EXPECT_EQ(kernel_.Write("p/v", 0, 0, 1), WriteResult::kHeld);
  EXPECT_EQ(kernel_.Write("p/w", 0, 0, 2), WriteResult::kHeld);
  EXPECT_EQ(EventTypes(), std::vector<std::string>{"host_fenced"});
  EXPECT_EQ(events_.back()["host"].get<std::string>(), "h1");

  devices_->Forget("p/w");
  ASSERT_TRUE(kernel_.UnfenceSegment(SegmentAt{"p/w", 0}, 0).ok());
  devices_->FenceAll();
  EXPECT_EQ(kernel_.Write("p/w", 0, 0, 3), WriteResult::kAcked);
}

}  // namespace
}  // namespace cvol::daemon::sim
