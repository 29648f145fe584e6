#include "cluster_sim.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "config_db.h"
#include "host_devices.h"
#include "log.h"
#include "cvol/cluster/membership.h"
#include "cvol/store/mem_kv_store.h"
#include "model_kernel.h"
#include "move_controller.h"
#include "peer_handlers.h"
#include "records.h"
#include "cvol/status_macros.h"
#include "volume_layout.h"

namespace cvol::daemon::sim {
namespace {

using Json = nlohmann::json;
using store::MemKvStore;

constexpr char kPrefix[] = "/cvol/";
constexpr char kPool[] = "p";
constexpr char kVolume[] = "v";
constexpr uint64_t kExtentSectors = 2048;
constexpr uint64_t kVolumeExtents = 4;
constexpr uint64_t kPvExtents = 16;

class World;

// One incarnation of cvold on a host: what a daemon crash loses.
struct Daemon;

struct Host {
  std::string name;
  std::unique_ptr<ModelKernel> kernel;
  std::unique_ptr<Daemon> daemon;
  bool up = true;                                   // the machine runs
  int handling = 0;                                 // peer requests on the stack
  absl::Time silent_until = absl::InfinitePast();   // answers no peer request
  // Its peer links are cut (both ways) while etcd still answers it.
  absl::Time cut_off_until = absl::InfinitePast();
  int incarnations = 0;
};

// --- The ports of one daemon incarnation --------------------------------

class World;

class DaemonClock final : public Clock {
 public:
  DaemonClock(World& world, Daemon& daemon) : world_(world), daemon_(daemon) {}
  absl::Time Now() override;
  void SleepFor(absl::Duration d) override;

 private:
  World& world_;
  Daemon& daemon_;
};

// etcd as one daemon reaches it: gone with the daemon.
class DaemonKv final : public store::KvStore {
 public:
  DaemonKv(MemKvStore& kv, Daemon& daemon) : kv_(kv), daemon_(daemon) {}
  absl::StatusOr<std::optional<store::KeyValue>> Get(const std::string& key) override;
  absl::StatusOr<store::RangeResult> Range(const std::string& prefix) override;
  absl::StatusOr<store::TxnResult> Txn(absl::Span<const store::Compare> compares,
                                       absl::Span<const store::Op> success,
                                       absl::Span<const store::Op> failure) override;
  absl::StatusOr<int64_t> LeaseGrant(int64_t ttl) override;
  absl::Status LeaseKeepAlive(int64_t lease) override;
  absl::Status LeaseRevoke(int64_t lease) override;
  absl::StatusOr<store::QuorumReport> ProbeQuorum() override { return kv_.ProbeQuorum(); }

 private:
  absl::Status Alive() const;
  MemKvStore& kv_;
  Daemon& daemon_;
};

// The kernel as one daemon reaches it: a dead daemon reaches nothing, and
// any call may let the rest of the world run first (a slow message).
class DaemonKernel final : public KernelPort {
 public:
  DaemonKernel(World& world, Host& host, Daemon& daemon)
      : world_(world), host_(host), daemon_(daemon) {}
  absl::Status Activate(const Snapshot& snap, const VolumeRecord& volume) override;
  absl::StatusOr<KernelExtent> Read(const ExtentRef& e) override;
  void WaitForProgress(absl::Duration most) override;
  absl::Status MigrateStart(const ExtentRef& e, Location dst, MigrateMode mode,
                            uint64_t epoch) override;
  absl::StatusOr<MigrateDirty> MigrateDirtyRegions(const ExtentRef& e, uint64_t epoch) override;
  absl::Status MigrateCommit(const ExtentRef& e, uint64_t epoch) override;
  absl::Status MigrateAbort(const ExtentRef& e, uint64_t epoch) override;
  absl::StatusOr<uint64_t> Freeze(const ExtentRef& e, uint64_t timeout_ms,
                                  uint64_t epoch) override;
  absl::Status FreezeWait(const ExtentRef& e, uint64_t id, uint64_t wait_ms) override;
  absl::Status Thaw(const ExtentRef& e, uint64_t id, uint64_t epoch) override;
  absl::Status SetLocation(const ExtentRef& e, Location to, uint64_t epoch) override;
  absl::Status MigrateRecopy(const ExtentRef& e, const std::vector<DirtyRun>& runs,
                             uint64_t epoch) override;

 private:
  // Unavailable if the daemon is gone; may yield to the world first.
  absl::Status Enter();
  World& world_;
  Host& host_;
  Daemon& daemon_;
};

// This host's devices as one daemon reaches them, for HostDevices: as
// DaemonKernel. The lease and the fence come from the agent, which in the
// daemon has a thread of its own: they never let the world run.
class DaemonDevices final : public DevicePort {
 public:
  DaemonDevices(World& world, Host& host, Daemon& daemon)
      : world_(world), host_(host), daemon_(daemon) {}
  std::string DeviceName(const VolumeRecord& volume) override {
    return host_.kernel->DeviceName(volume);
  }
  absl::StatusOr<bool> DeviceExists(const std::string& device) override;
  absl::Status ActivateDevice(const Snapshot& snap, const VolumeRecord& volume,
                              bool fenced) override;
  absl::StatusOr<std::vector<SegmentState>> DeviceSegments(const std::string& device) override;
  absl::StatusOr<std::vector<Run>> SegmentMap(const SegmentAt& at, uint64_t extents) override;
  absl::Status SetSegmentMap(const SegmentAt& at, const std::vector<MapSetItem>& items,
                             uint64_t epoch) override;
  absl::Status ThawSegment(const SegmentAt& at, uint64_t id, uint64_t epoch) override;
  absl::Status AbortSegmentMigration(const SegmentAt& at, uint64_t vext, uint64_t epoch) override;
  absl::Status ThawChangeFreeze(const ExtentRef& e, uint64_t id, uint64_t epoch) override;
  absl::Status LeaseSegment(const SegmentAt& at, uint64_t lease_ms) override;
  absl::Status FenceSegment(const SegmentAt& at) override;
  absl::Status UnfenceSegment(const SegmentAt& at, uint64_t epoch) override;

 private:
  absl::Status Enter();  // as DaemonKernel's
  absl::Status Alive() const;
  World& world_;
  Host& host_;
  Daemon& daemon_;
};

class DaemonPeers final : public PeerCaller {
 public:
  DaemonPeers(World& world, Host& host, Daemon& daemon)
      : world_(world), host_(host), daemon_(daemon) {}
  PeerAnswer Ask(const PeerTarget& to, const std::string& type, int64_t epoch,
                 const Json& body, absl::Duration deadline) override;
  // One after another: deterministic, and each call may still be slow.
  std::vector<PeerAnswer> AskAll(const std::vector<PeerTarget>& targets, const std::string& type,
                                 int64_t epoch, const Json& body,
                                 absl::Duration deadline) override {
    std::vector<PeerAnswer> out;
    for (const PeerTarget& t : targets) out.push_back(Ask(t, type, epoch, body, deadline));
    return out;
  }

 private:
  World& world_;
  Host& host_;
  Daemon& daemon_;
};

enum class AgentState { kJoining, kActive, kFenced };

struct Daemon {
  int incarnation = 0;
  bool alive = true;
  absl::Time stalled_until = absl::InfinitePast();
  std::unique_ptr<DaemonClock> clock;
  std::unique_ptr<DaemonKv> kv;
  std::unique_ptr<ConfigDb> db;
  std::unique_ptr<DaemonKernel> kernel;
  std::unique_ptr<DaemonPeers> peers;
  std::unique_ptr<DaemonDevices> device_port;
  std::unique_ptr<HostDevices> devices;
  // In HostDevices::Reintegrate, which holds the handlers' lock: a peer
  // request waits, and the agent (one thread in the daemon) does nothing
  // else meanwhile.
  bool reintegrating = false;
  std::unique_ptr<PeerHandlers> handlers;
  std::unique_ptr<MoveController> controller;
  std::unique_ptr<cluster::Membership> membership;
  AgentState state = AgentState::kJoining;
  absl::Time last_renewal;
  bool primary = false;
  int64_t step_down_epoch = 0;  // the controller asked to step down (0: no)
  std::set<std::string> driving;  // move keys with a drive scheduled or running
  std::set<std::string> running;  // of those, on the stack now
};

// The kernels' and disks' clock: the world's time; a wait lets it run.
class WorldClock final : public Clock {
 public:
  explicit WorldClock(World& world) : world_(world) {}
  absl::Time Now() override;
  void SleepFor(absl::Duration d) override;

 private:
  World& world_;
};

// --- The world ------------------------------------------------------------

class World {
 public:
  explicit World(const SimOptions& options);
  SimResult Run();

  absl::Time now() const { return now_; }
  std::mt19937_64& rng() { return rng_; }
  // Counts the kernel calls the epoch rule refused, for the summary line.
  void NoteKernelReply(const absl::Status& s) {
    if (IsStaleEpoch(s)) ++result_.stale_epoch_refusals;
  }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  absl::Duration Uniform(absl::Duration lo, absl::Duration hi) {
    const int64_t a = absl::ToInt64Microseconds(lo), b = absl::ToInt64Microseconds(hi);
    return absl::Microseconds(std::uniform_int_distribution<int64_t>(a, b)(rng_));
  }
  // Processes every event due by `until` (nested calls allowed: a daemon
  // that sleeps lets the world run).
  void RunUntil(absl::Time until);
  void Trace(const std::string& line);
  Host* FindHost(const std::string& name);
  MemKvStore& kv() { return kv_; }
  double message_loss() const { return message_loss_; }
  void Fail(const std::string& why);
  bool failed() const { return !result_.ok; }
  // The host's kernel may write again from here on (an unfence, a device
  // created): it is no longer held to an exclusion recorded before.
  void MayWriteAgain(const Host& h) { excluded_.erase(h.name); }
  void Impersonate(Host& target, const std::string& type, int64_t epoch, const Json& body);
  PeerAnswer Deliver(Host& from, Daemon& daemon, const std::string& to, const std::string& type,
                     int64_t epoch, const Json& body, absl::Duration deadline);
 private:
  void Schedule(absl::Duration after, std::function<void()> fn);
  void Setup();
  void StartDaemon(Host& h);
  void AgentTick(Host& h, int incarnation);
  absl::Status Reintegrate(Daemon& d);
  void Drive(Host& h, int incarnation, const std::string& key);
  void WriterTick(Host& h);
  void StartMoves();
  void PlanFaults();
  void BreakFreezeSoon(Host& h, absl::Time until);
  void RevokeDuringCopy(Host& h, absl::Time until);
  void CheckInvariants();
  void CheckQuiescent();
  void OnAck(const std::string& host, uint64_t vext, uint32_t region, uint64_t value);

  const SimOptions options_;
  WorldClock clock_{*this};
  std::mt19937_64 rng_;
  absl::Time now_ = absl::UnixEpoch() + absl::Hours(1);
  MemKvStore kv_;
  ConfigDb db_;  // the checker's own view
  std::unique_ptr<ModelDisks> disks_;
  std::vector<std::unique_ptr<Host>> hosts_;
  std::vector<std::unique_ptr<Daemon>> retired_;
  std::multimap<std::pair<absl::Time, uint64_t>, std::function<void()>> events_;
  uint64_t seq_ = 0;
  double message_loss_ = 0;
  // Busy writers hide a lost write under the next one; sparse ones let it
  // show. Drawn per seed.
  absl::Duration write_pace_ = absl::Milliseconds(80);
  bool healed_ = false;
  bool cut_off_primary_ = false;  // options_.cut_off_primary_at_step happened
  uint64_t next_value_ = 1;
  // The last acknowledged value of each (vext, region).
  std::map<std::pair<uint64_t, uint32_t>, uint64_t> acked_;
  // Checker caches, by etcd revision.
  int64_t checked_revision_ = -1;
  std::map<std::string, MoveRecord> last_moves_;
  std::map<uint64_t, Location> etcd_map_;
  std::set<std::string> excluded_;  // recorded as excluded, not yet re-integrated
  size_t disk_log_checked_ = 0;
  std::deque<std::string> trace_;
  SimResult result_;
};

// --- Ports ---------------------------------------------------------------

absl::Time WorldClock::Now() { return world_.now(); }
void WorldClock::SleepFor(absl::Duration d) { world_.RunUntil(world_.now() + d); }

absl::Time DaemonClock::Now() { return world_.now(); }

void DaemonClock::SleepFor(absl::Duration d) {
  if (!daemon_.alive) return;
  world_.RunUntil(world_.now() + d);
  // SIGSTOP: the process goes on only once continued.
  while (daemon_.alive && daemon_.stalled_until > world_.now()) {
    world_.RunUntil(daemon_.stalled_until);
  }
}

absl::Status DaemonKv::Alive() const {
  if (!daemon_.alive) return absl::UnavailableError("the daemon is dead");
  return absl::OkStatus();
}

absl::StatusOr<std::optional<store::KeyValue>> DaemonKv::Get(const std::string& key) {
  if (absl::Status s = Alive(); !s.ok()) return s;
  return kv_.Get(key);
}
absl::StatusOr<store::RangeResult> DaemonKv::Range(const std::string& prefix) {
  if (absl::Status s = Alive(); !s.ok()) return s;
  return kv_.Range(prefix);
}
absl::StatusOr<store::TxnResult> DaemonKv::Txn(absl::Span<const store::Compare> compares,
                                               absl::Span<const store::Op> success,
                                               absl::Span<const store::Op> failure) {
  if (absl::Status s = Alive(); !s.ok()) return s;
  return kv_.Txn(compares, success, failure);
}
absl::StatusOr<int64_t> DaemonKv::LeaseGrant(int64_t ttl) {
  if (absl::Status s = Alive(); !s.ok()) return s;
  return kv_.LeaseGrant(ttl);
}
absl::Status DaemonKv::LeaseKeepAlive(int64_t lease) {
  if (absl::Status s = Alive(); !s.ok()) return s;
  return kv_.LeaseKeepAlive(lease);
}
absl::Status DaemonKv::LeaseRevoke(int64_t lease) {
  if (absl::Status s = Alive(); !s.ok()) return s;
  return kv_.LeaseRevoke(lease);
}

absl::Status DaemonKernel::Enter() {
  if (!daemon_.alive || !host_.up) return absl::UnavailableError("the daemon is dead");
  // A message that takes a while: others act meanwhile.
  if (world_.Chance(0.1)) daemon_.clock->SleepFor(world_.Uniform(absl::Milliseconds(1), absl::Milliseconds(30)));
  if (!daemon_.alive || !host_.up) return absl::UnavailableError("the daemon is dead");
  return absl::OkStatus();
}

absl::Status DaemonKernel::Activate(const Snapshot& snap, const VolumeRecord& volume) {
  if (absl::Status s = Enter(); !s.ok()) return s;
  return host_.kernel->Activate(snap, volume);
}
absl::StatusOr<KernelExtent> DaemonKernel::Read(const ExtentRef& e) {
  if (absl::Status s = Enter(); !s.ok()) return s;
  return host_.kernel->Read(e);
}
void DaemonKernel::WaitForProgress(absl::Duration most) {
  daemon_.clock->SleepFor(std::min(most, absl::Milliseconds(20)));
}
absl::Status DaemonKernel::MigrateStart(const ExtentRef& e, Location dst, MigrateMode mode,
                                        uint64_t epoch) {
  if (absl::Status s = Enter(); !s.ok()) return s;
  absl::Status r = host_.kernel->MigrateStart(e, dst, mode, epoch);
  world_.NoteKernelReply(r);
  return r;
}
absl::StatusOr<MigrateDirty> DaemonKernel::MigrateDirtyRegions(const ExtentRef& e,
                                                              uint64_t epoch) {
  if (absl::Status s = Enter(); !s.ok()) return s;
  absl::StatusOr<MigrateDirty> r = host_.kernel->MigrateDirtyRegions(e, epoch);
  world_.NoteKernelReply(r.status());
  return r;
}
absl::Status DaemonKernel::MigrateCommit(const ExtentRef& e, uint64_t epoch) {
  if (absl::Status s = Enter(); !s.ok()) return s;
  absl::Status r = host_.kernel->MigrateCommit(e, epoch);
  world_.NoteKernelReply(r);
  return r;
}
absl::Status DaemonKernel::MigrateAbort(const ExtentRef& e, uint64_t epoch) {
  if (absl::Status s = Enter(); !s.ok()) return s;
  absl::Status r = host_.kernel->MigrateAbort(e, epoch);
  world_.NoteKernelReply(r);
  return r;
}
absl::StatusOr<uint64_t> DaemonKernel::Freeze(const ExtentRef& e, uint64_t timeout_ms,
                                              uint64_t epoch) {
  if (absl::Status s = Enter(); !s.ok()) return s;
  absl::StatusOr<uint64_t> r = host_.kernel->Freeze(e, timeout_ms, epoch);
  world_.NoteKernelReply(r.status());
  return r;
}
absl::Status DaemonKernel::FreezeWait(const ExtentRef& e, uint64_t id, uint64_t wait_ms) {
  if (absl::Status s = Enter(); !s.ok()) return s;
  return host_.kernel->FreezeWait(e, id, wait_ms);
}
absl::Status DaemonKernel::Thaw(const ExtentRef& e, uint64_t id, uint64_t epoch) {
  if (absl::Status s = Enter(); !s.ok()) return s;
  absl::Status r = host_.kernel->Thaw(e, id, epoch);
  world_.NoteKernelReply(r);
  return r;
}
absl::Status DaemonKernel::SetLocation(const ExtentRef& e, Location to, uint64_t epoch) {
  if (absl::Status s = Enter(); !s.ok()) return s;
  absl::Status r = host_.kernel->SetLocation(e, to, epoch);
  world_.NoteKernelReply(r);
  return r;
}
absl::Status DaemonKernel::MigrateRecopy(const ExtentRef& e, const std::vector<DirtyRun>& runs,
                                         uint64_t epoch) {
  if (absl::Status s = Enter(); !s.ok()) return s;
  absl::Status r = host_.kernel->MigrateRecopy(e, runs, epoch);
  world_.NoteKernelReply(r);
  return r;
}

absl::Status DaemonDevices::Alive() const {
  if (!daemon_.alive || !host_.up) return absl::UnavailableError("the daemon is dead");
  return absl::OkStatus();
}
absl::Status DaemonDevices::Enter() {
  RETURN_IF_ERROR(Alive());
  if (world_.Chance(0.1)) daemon_.clock->SleepFor(world_.Uniform(absl::Milliseconds(1), absl::Milliseconds(30)));
  return Alive();
}
absl::StatusOr<bool> DaemonDevices::DeviceExists(const std::string& device) {
  RETURN_IF_ERROR(Enter());
  return host_.kernel->DeviceExists(device);
}
absl::Status DaemonDevices::ActivateDevice(const Snapshot& snap, const VolumeRecord& volume,
                                           bool fenced) {
  RETURN_IF_ERROR(Enter());
  // Created unfenced, the device could write at once; created fenced, not
  // before its unfence (UnfenceSegment).
  if (!fenced && !host_.kernel->HasVolume(DeviceName(volume))) world_.MayWriteAgain(host_);
  return host_.kernel->ActivateDevice(snap, volume, fenced);
}
absl::StatusOr<std::vector<SegmentState>> DaemonDevices::DeviceSegments(const std::string& device) {
  RETURN_IF_ERROR(Enter());
  return host_.kernel->DeviceSegments(device);
}
absl::StatusOr<std::vector<Run>> DaemonDevices::SegmentMap(const SegmentAt& at, uint64_t extents) {
  RETURN_IF_ERROR(Enter());
  return host_.kernel->SegmentMap(at, extents);
}
absl::Status DaemonDevices::SetSegmentMap(const SegmentAt& at, const std::vector<MapSetItem>& items,
                                          uint64_t epoch) {
  RETURN_IF_ERROR(Enter());
  absl::Status r = host_.kernel->SetSegmentMap(at, items, epoch);
  world_.NoteKernelReply(r);
  return r;
}
absl::Status DaemonDevices::ThawSegment(const SegmentAt& at, uint64_t id, uint64_t epoch) {
  RETURN_IF_ERROR(Enter());
  absl::Status r = host_.kernel->ThawSegment(at, id, epoch);
  world_.NoteKernelReply(r);
  return r;
}
absl::Status DaemonDevices::AbortSegmentMigration(const SegmentAt& at, uint64_t vext,
                                                  uint64_t epoch) {
  RETURN_IF_ERROR(Enter());
  absl::Status r = host_.kernel->AbortSegmentMigration(at, vext, epoch);
  world_.NoteKernelReply(r);
  return r;
}
absl::Status DaemonDevices::ThawChangeFreeze(const ExtentRef& e, uint64_t id, uint64_t epoch) {
  RETURN_IF_ERROR(Enter());
  absl::Status r = host_.kernel->ThawChangeFreeze(e, id, epoch);
  world_.NoteKernelReply(r);
  return r;
}
absl::Status DaemonDevices::LeaseSegment(const SegmentAt& at, uint64_t lease_ms) {
  RETURN_IF_ERROR(Alive());
  return host_.kernel->LeaseSegment(at, lease_ms);
}
absl::Status DaemonDevices::FenceSegment(const SegmentAt& at) {
  RETURN_IF_ERROR(Alive());
  return host_.kernel->FenceSegment(at);
}
absl::Status DaemonDevices::UnfenceSegment(const SegmentAt& at, uint64_t epoch) {
  RETURN_IF_ERROR(Enter());
  world_.MayWriteAgain(host_);
  absl::Status r = host_.kernel->UnfenceSegment(at, epoch);
  world_.NoteKernelReply(r);
  return r;
}

PeerAnswer DaemonPeers::Ask(const PeerTarget& to, const std::string& type, int64_t epoch,
                            const Json& body, absl::Duration deadline) {
  return world_.Deliver(host_, daemon_, to.address, type, epoch, body, deadline);
}

// --- World ---------------------------------------------------------------

World::World(const SimOptions& options)
    : options_(options),
      rng_(options.seed),
      kv_(MemKvStore::Options{[this] { return now_; }, 2}),
      db_(kv_, kPrefix) {}

void World::Schedule(absl::Duration after, std::function<void()> fn) {
  events_.emplace(std::make_pair(now_ + after, seq_++), std::move(fn));
}

void World::Trace(const std::string& line) {
  trace_.push_back(absl::StrFormat("%9.3f %s", absl::ToDoubleSeconds(now_ - (absl::UnixEpoch() + absl::Hours(1))), line));
  if (trace_.size() > options_.trace_tail) trace_.pop_front();
}

void World::Fail(const std::string& why) {
  if (!result_.ok) return;
  result_.ok = false;
  result_.failure = why;
  Trace(absl::StrCat("INVARIANT BROKEN: ", why));
}

Host* World::FindHost(const std::string& name) {
  for (auto& h : hosts_) {
    if (h->name == name) return h.get();
  }
  return nullptr;
}

void World::RunUntil(absl::Time until) {
  while (!events_.empty() && !failed()) {
    auto it = events_.begin();
    if (it->first.first > until) break;
    std::function<void()> fn = std::move(it->second);
    now_ = std::max(now_, it->first.first);
    events_.erase(it);
    ++result_.events;
    fn();
    CheckInvariants();
  }
  now_ = std::max(now_, until);
}

PeerAnswer World::Deliver(Host& from, Daemon& daemon, const std::string& to,
                          const std::string& type, int64_t epoch, const Json& body,
                          absl::Duration deadline) {
  PeerAnswer answer;
  auto no_answer = [&](const std::string& why) {
    daemon.clock->SleepFor(deadline);
    answer.transport = absl::DeadlineExceededError(why);
    return answer;
  };
  Host* target = FindHost(to);
  if (!daemon.alive) {
    answer.transport = absl::UnavailableError("the caller is dead");
    return answer;
  }
  if (target == nullptr) {
    answer.transport = absl::UnavailableError("no such host");
    return answer;
  }
  if (Chance(message_loss_)) return no_answer("request lost");
  if (to != from.name && (from.cut_off_until > now_ || target->cut_off_until > now_)) {
    return no_answer(absl::StrCat("the link between ", from.name, " and ", to, " is cut"));
  }
  daemon.clock->SleepFor(Uniform(absl::Microseconds(100), absl::Milliseconds(5)));
  // A busy handler: the request waits for its lock (in vain if the busy
  // one is further down this very stack: then it is late, as a request
  // stuck behind a slow one is).
  const absl::Time give_up = now_ + deadline;
  auto busy = [target] {
    return target->handling > 0 ||
           (target->daemon != nullptr && target->daemon->reintegrating);
  };
  while (daemon.alive && busy() && now_ < give_up) {
    daemon.clock->SleepFor(absl::Milliseconds(1));
  }
  Daemon* d = target->daemon.get();
  // A stopped, dead or deliberately silent daemon.
  if (!target->up || d == nullptr || !d->alive || d->stalled_until > now_ ||
      target->silent_until > now_ || busy()) {
    return no_answer(absl::StrCat(to, " does not answer"));
  }
  const int incarnation = d->incarnation;
  ++target->handling;
  if (PeerHandlers::Serves(type) && Chance(0.05)) Impersonate(*target, type, epoch, body);
  absl::StatusOr<Json> verdict = d->handlers->Handle(type, epoch, from.name, body);
  --target->handling;
  Trace(absl::StrCat(from.name, " -> ", to, " ", type, ": ",
                     verdict.ok() ? "ok" : std::string(verdict.status().message())));
  // The answer is lost with its daemon, or on the way back.
  if (target->daemon.get() != d || !d->alive || d->incarnation != incarnation || !target->up) {
    return no_answer("the daemon died while handling");
  }
  if (Chance(message_loss_)) return no_answer("reply lost");
  daemon.clock->SleepFor(Uniform(absl::Microseconds(100), absl::Milliseconds(5)));
  answer.verdict = std::move(verdict);
  return answer;
}


// Another member (authenticated as itself by the peer link) sends the
// controller's very request: it must be refused, whatever the step, and so
// change nothing.
void World::Impersonate(Host& target, const std::string& type, int64_t epoch, const Json& body) {
  absl::StatusOr<cluster::Leader> leader = cluster::Membership::ReadLeader(kv_, kPrefix);
  if (!leader.ok()) return;
  std::vector<const Host*> others;
  for (const auto& h : hosts_) {
    if (h->name != leader->host) others.push_back(h.get());
  }
  if (others.empty()) return;
  const std::string& sender = others[rng_() % others.size()]->name;
  absl::StatusOr<Json> verdict = target.daemon->handlers->Handle(type, epoch, sender, body);
  ++result_.impersonations;
  Trace(absl::StrCat(sender, " as the Primary -> ", target.name, " ", type, ": ",
                     verdict.ok() ? "ok" : std::string(verdict.status().message())));
  // In the Primary's own epoch only the sender check can refuse it (any
  // other refusal would mean the handler ran); a stale epoch is refused
  // as stale first.
  const bool current = leader->epoch != 0 && epoch == leader->epoch;
  const absl::StatusCode want = current ? absl::StatusCode::kPermissionDenied
                                        : absl::StatusCode::kFailedPrecondition;
  if (current && verdict.status().code() == absl::StatusCode::kPermissionDenied) {
    ++result_.impersonations_in_epoch;
  }
  if (verdict.ok() || verdict.status().code() != want) {
    Fail(absl::StrCat("a controller step '", type, "' from ", sender, " (not the Primary, ",
                      leader->host, ") was not refused: ",
                      verdict.ok() ? "ok" : verdict.status().ToString()));
  }
}

void World::Setup() {
  disks_ = std::make_unique<ModelDisks>(clock_);
  // One pool of three pvs; one volume of kVolumeExtents on the first pv.
  ChangeSet cs(db_);
  PoolRecord pool{kPool, "pool-uuid", kExtentSectors, 1, 1};
  cs.CreatePool(pool);
  for (uint32_t slot = 0; slot < 3; ++slot) {
    cs.CreatePv(PvRecord{absl::StrCat("pv-uuid-", slot), absl::StrCat("pv", slot), kPool, slot,
                         kPvExtents, 2048, (kPvExtents + 1) * kExtentSectors});
  }
  VolumeRecord volume;
  volume.pool = kPool;
  volume.name = kVolume;
  volume.uuid = "volume-uuid";
  volume.extents = kVolumeExtents;
  volume.segments = {Segment{0, kVolumeExtents}};
  volume.runs = {cvol::Run{0, 0, 0, kVolumeExtents}};
  cs.CreateVolume(volume);
  if (absl::Status s = db_.Commit(cs); !s.ok()) Fail(absl::StrCat("setup: ", s.message()));
  for (int i = 0; i < options_.hosts; ++i) {
    auto h = std::make_unique<Host>();
    h->name = absl::StrCat("h", i + 1);
    Host* raw = h.get();
    h->kernel = std::make_unique<ModelKernel>(
        h->name, *disks_, clock_, options_.regions_per_extent,
        [this, raw](const std::string&, uint64_t vext, uint32_t region, uint64_t value) {
          OnAck(raw->name, vext, region, value);
        });
    h->kernel->set_max_migrations(options_.max_migrations);
    hosts_.push_back(std::move(h));
  }
  // Join in order, so that h1 is the first Primary.
  for (auto& h : hosts_) StartDaemon(*h);
}

void World::StartDaemon(Host& h) {
  auto d = std::make_unique<Daemon>();
  d->incarnation = ++h.incarnations;
  Daemon& dr = *d;
  d->clock = std::make_unique<DaemonClock>(*this, dr);
  d->kv = std::make_unique<DaemonKv>(kv_, dr);
  d->db = std::make_unique<ConfigDb>(*d->kv, kPrefix);
  d->kernel = std::make_unique<DaemonKernel>(*this, h, dr);
  d->peers = std::make_unique<DaemonPeers>(*this, h, dr);
  const std::string name = h.name;
  d->device_port = std::make_unique<DaemonDevices>(*this, h, dr);
  HostDevices::Deps dd;
  dd.db = d->db.get();
  dd.port = d->device_port.get();
  dd.clock = d->clock.get();
  dd.host = [name] { return name; };
  dd.publish = [this, name](Json event) {
    const std::string type = event.value("type", "");
    if (type == "host_reintegrated") ++result_.reintegrations;
    if (type == "orphan_freeze_thawed") ++result_.orphan_freezes_thawed;
    if (type == "cluster_released") ++result_.ended_changes_thawed;
    Trace(absl::StrCat(name, " devices: ", event.dump()));
  };
  d->devices = std::make_unique<HostDevices>(std::move(dd));
  PeerHandlers::Deps hd;
  hd.db = d->db.get();
  hd.kernel = d->kernel.get();
  hd.clock = d->clock.get();
  hd.check_controller = [&dr](int64_t epoch, const std::string& sender) -> absl::Status {
    ASSIGN_OR_RETURN(cluster::Leader leader, cluster::Membership::ReadLeader(*dr.kv, kPrefix));
    return cluster::CheckController(epoch, sender, leader);
  };
  hd.publish = [](Json) {};
  // The copier's kernel re-copies; the handler waits for it inline for a
  // while, or only looks (the controller polls).
  hd.recopy_inline_budget = Chance(0.5) ? absl::ZeroDuration() : absl::Milliseconds(500);
  d->handlers = std::make_unique<PeerHandlers>(std::move(hd));
  MoveController::Deps cd;
  cd.kv = d->kv.get();
  cd.db = d->db.get();
  cd.prefix = kPrefix;
  cd.self = name;
  cd.lease_ttl_s = options_.lease_ttl_s;
  cd.kernel = d->kernel.get();
  cd.peers = d->peers.get();
  cd.clock = d->clock.get();
  cd.is_primary = [&dr] { return dr.primary && dr.state != AgentState::kFenced; };
  cd.host_active = [&dr] { return dr.state == AgentState::kActive; };
  cd.publish = [this, &h, name](Json event) {
    const std::string type = event.value("type", "");
    if (type == "host_excluded") ++result_.exclusions;
    if (type == "move_done") ++result_.moves_done;
    if (type == "move_failed") ++result_.moves_rolled_back;
    if (type == "change_step" && !cut_off_primary_ &&
        event.value("step", "") == options_.cut_off_primary_at_step) {
      cut_off_primary_ = true;
      h.cut_off_until = absl::InfiniteFuture();
      Trace(absl::StrCat(name, ": the Primary is cut off from its peers for good"));
    }
    Trace(absl::StrCat(name, " controller: ", event.dump()));
  };
  cd.step_down = [&dr](int64_t epoch) { dr.step_down_epoch = epoch; };
  cd.set_phase = [](const std::string&, const std::string&, uint64_t, uint64_t) {};
  cd.remember = [](const std::string&, const Versioned<MoveRecord>&) {};
  MoveController::Options co;
  co.peer_deadline = absl::Seconds(1);
  co.freeze_timeout_ms = static_cast<uint64_t>(options_.lease_ttl_s) * 3000;
  co.move_poll = absl::Milliseconds(20);
  // One kernel look per step, as the old controller: a step that waits in
  // a loop stays on the one stack the simulation has and holds back every
  // other host's events beneath it (in the daemon it is a thread of its
  // own; the loop only spares etcd reads, which cost nothing here).
  co.copy_recheck = absl::ZeroDuration();
  co.retry_pause = absl::Milliseconds(200);
  co.max_refusals = options_.max_refusals;
  co.migrations_per_volume = options_.max_migrations;
  d->controller = std::make_unique<MoveController>(std::move(cd), co);
  // The old incarnation may still be on the stack (its code returns once
  // the nested events do): it is kept, dead, until the run ends.
  if (h.daemon != nullptr) {
    h.daemon->alive = false;
    retired_.push_back(std::move(h.daemon));
  }
  h.daemon = std::move(d);
  Trace(absl::StrCat(name, ": cvold starts (incarnation ", dr.incarnation, ")"));
  // As cvold in cluster mode (Service::Start): no device is created before
  // re-integration; one a previous daemon left is taken in charge (its
  // lease renewed, the fence reaching it).
  if (h.up && h.kernel->HasVolume(absl::StrCat(kPool, "/", kVolume))) {
    VolumeRecord volume;
    volume.pool = kPool;
    volume.name = kVolume;
    volume.segments = {Segment{0, kVolumeExtents}};
    dr.devices->Track(volume, kExtentSectors);
  }
  AgentTick(h, dr.incarnation);
}

// The daemon's re-integration itself (HostDevices), as ClusterAgent's
// Rejoin calls it: under the current epoch, with the handlers' lock held.
// The kernel lease it arms before each unfence is counted from the last
// renewal's send time (3/4 TTL), as the agent sizes a renewal's.
absl::Status World::Reintegrate(Daemon& d) {
  ASSIGN_OR_RETURN(int64_t current, cluster::Membership::ReadEpoch(*d.kv, kPrefix));
  const HostDevices::LeaseBasis lease{d.last_renewal, absl::Seconds(options_.lease_ttl_s) * 3 / 4};
  absl::Status s;
  d.reintegrating = true;
  d.handlers->WithHeldFreezes([&](HostDevices::HeldFreezes& held) {
    s = d.devices->Reintegrate(current, held, lease);
  });
  d.reintegrating = false;
  return s;
}

void World::AgentTick(Host& h, int incarnation) {
  Daemon* d = h.daemon.get();
  if (d == nullptr || d->incarnation != incarnation || !d->alive || !h.up) return;
  const absl::Duration tick = absl::Seconds(options_.lease_ttl_s) / 6;
  Schedule(tick, [this, &h, incarnation] { AgentTick(h, incarnation); });
  // Stopped; or on the stack already, in a re-integration that let the
  // world run (the agent's one thread waits for it in the daemon).
  if (d->stalled_until > now_ || d->reintegrating) return;
  const absl::Duration kernel_lease = absl::Seconds(options_.lease_ttl_s) * 3 / 4;
  auto fence = [&](const std::string& why) {
    if (d->state != AgentState::kFenced) Trace(absl::StrCat(h.name, ": fenced: ", why));
    d->devices->FenceAll();
    d->state = AgentState::kFenced;
  };
  if (d->membership == nullptr) {
    absl::StatusOr<std::unique_ptr<cluster::Membership>> joined =
        cluster::Membership::Join(*d->kv, kPrefix, {h.name, {h.name}}, options_.lease_ttl_s);
    if (!joined.ok()) return;
    d->membership = *std::move(joined);
    d->last_renewal = now_;
    Trace(absl::StrCat(h.name, ": joined, campaign ", d->membership->campaign_revision()));
    if (d->state == AgentState::kActive) d->state = AgentState::kFenced;
  } else {
    const absl::Time sent = now_;
    absl::Status kept = d->membership->KeepAlive();
    if (kept.ok()) {
      d->last_renewal = sent;
      if (d->state == AgentState::kActive) {
        d->devices->RenewKernelLeases(
            static_cast<uint64_t>(absl::ToInt64Milliseconds(kernel_lease)));
      }
    } else if (kept.code() == absl::StatusCode::kNotFound) {
      fence("the lease is gone");
      d->membership.reset();
      d->primary = false;
      return;
    } else if (now_ - d->last_renewal > absl::Seconds(options_.lease_ttl_s) / 2) {
      fence(std::string(kept.message()));
    }
  }
  // The kernel's lease ran out (a stall): its lease_expired event makes
  // the agent re-integrate (ClusterAgent::OnKernelFenced).
  if (d->state == AgentState::kActive && h.kernel->fenced()) fence("the kernel lease ran out");
  // (Not while a peer request of this host is on the stack: in life the
  // re-integration waits for the handlers' lock.)
  if (d->state != AgentState::kActive && d->membership != nullptr && h.handling == 0) {
    d->state = AgentState::kJoining;
    absl::Status s = Reintegrate(*d);
    // The daemon may have died or been replaced meanwhile.
    if (h.daemon.get() != d || !d->alive || !h.up) return;
    // As ClusterAgent::Rejoin: a failure leaves the devices as they are
    // (fenced unless unfenced above) and the next tick tries again.
    if (s.ok()) {
      d->state = AgentState::kActive;
      Trace(absl::StrCat(h.name, ": reintegrated"));
    } else {
      Trace(absl::StrCat(h.name, ": re-integration: ", s.message()));
    }
  }
  absl::StatusOr<cluster::ClusterView> view = cluster::Membership::Read(*d->kv, kPrefix);
  if (!view.ok()) return;
  // As ClusterAgent::StepDownIfAsked.
  const int64_t asked = std::exchange(d->step_down_epoch, 0);
  if (asked != 0 && asked == view->epoch && view->primary() != nullptr &&
      view->primary()->host == h.name) {
    if (absl::Status s = d->membership->StepDown(); s.ok()) {
      ++result_.step_downs;
      Trace(absl::StrCat(h.name, ": stepped down as the Primary of epoch ", asked));
      view = cluster::Membership::Read(*d->kv, kPrefix);
      if (!view.ok()) return;
    }
  }
  d->primary = view->primary() != nullptr && view->primary()->host == h.name;
  if (!d->primary || d->state == AgentState::kFenced) return;
  absl::StatusOr<Snapshot> snap = d->db->Load();
  if (!snap.ok()) return;
  for (const auto& [key, move] : snap->moves) {
    if (d->driving.insert(key).second) {
      // key = key: clang 14 cannot capture a structured binding by name.
      Schedule(absl::ZeroDuration(),
               [this, &h, incarnation, key = key] { Drive(h, incarnation, key); });
    }
  }
}

void World::Drive(Host& h, int incarnation, const std::string& key) {
  Daemon* d = h.daemon.get();
  if (d == nullptr || d->incarnation != incarnation || !d->alive || !h.up) return;
  if (d->stalled_until > now_ || d->running.contains(key)) {
    Schedule(absl::Milliseconds(10) + std::max(absl::ZeroDuration(), d->stalled_until - now_),
             [this, &h, incarnation, key] { Drive(h, incarnation, key); });
    return;
  }
  d->running.insert(key);
  absl::StatusOr<MoveController::Next> next = d->controller->RunStep(key);
  // The daemon may have died or been replaced while the step ran.
  if (h.daemon.get() != d) return;
  d->running.erase(key);
  if (!next.ok() || next->done) {
    if (!next.ok()) Trace(absl::StrCat(h.name, " drive ", key, " ends: ", next.status().message()));
    d->driving.erase(key);
    return;
  }
  Schedule(std::max(next->wait, absl::Milliseconds(2)),
           [this, &h, incarnation, key] { Drive(h, incarnation, key); });
}

void World::OnAck(const std::string& host, uint64_t vext, uint32_t region, uint64_t value) {
  acked_[{vext, region}] = value;
  ++result_.writes_acked;
  Trace(absl::StrCat(host, ": write ", vext, ".", region, "=", value, " acked"));
}

void World::WriterTick(Host& h) {
  Schedule(Uniform(write_pace_ / 8, write_pace_), [this, &h] { WriterTick(h); });
  if (!h.up) return;
  // Mostly the moving extents: that is where the races are.
  const uint64_t vext =
      Chance(0.8) ? std::uniform_int_distribution<uint64_t>(
                        0, static_cast<uint64_t>(std::max(1, options_.extents_to_move)) - 1)(rng_)
                  : std::uniform_int_distribution<uint64_t>(0, kVolumeExtents - 1)(rng_);
  const uint32_t region =
      std::uniform_int_distribution<uint32_t>(0, options_.regions_per_extent - 1)(rng_);
  const uint64_t value = next_value_++;
  WriteResult r = h.kernel->Write(absl::StrCat(kPool, "/", kVolume), vext, region, value);
  if (r == WriteResult::kHeld) Trace(absl::StrCat(h.name, ": write ", vext, ".", region, "=", value, " held"));
}

void World::StartMoves() {
  absl::StatusOr<Snapshot> snap = db_.Load();
  if (!snap.ok()) return;
  const VolumeRecord* volume = snap->FindVolume(kPool, kVolume);
  ChangeSet cs(db_);
  cs.ChangeAllocation(snap->pools.at(kPool));
  for (int i = 0; i < options_.extents_to_move && i < static_cast<int>(kVolumeExtents); ++i) {
    MoveRecord m;
    m.pool = kPool;
    m.volume = kVolume;
    m.volume_uuid = volume->uuid;
    m.vext = static_cast<uint64_t>(i);
    m.src = LocationOf(*volume, m.vext);
    m.dst = Location{1, static_cast<uint64_t>(i)};
    m.phase = MoveRecord::Phase::kCopying;
    m.started_ns = 1000 + static_cast<uint64_t>(i);
    cs.CreateMove(m);
  }
  if (absl::Status s = db_.Commit(cs); !s.ok()) Fail(absl::StrCat("start moves: ", s.message()));
  Trace("moves recorded");
}

void World::PlanFaults() {
  message_loss_ = std::vector<double>{0, 0, 0.02, 0.1}[rng_() % 4];
  const int faults = static_cast<int>(rng_() % 4);
  const absl::Duration ttl = absl::Seconds(options_.lease_ttl_s);
  for (int i = 0; i < faults; ++i) {
    ++result_.faults;
    Host& h = *hosts_[rng_() % hosts_.size()];
    const absl::Duration at = Uniform(absl::ZeroDuration(), options_.fault_window / 2);
    switch (rng_() % 10) {
      case 0:  // SIGKILL of cvold, restarted later
        Schedule(at, [this, &h, ttl] {
          if (h.daemon == nullptr || !h.up) return;
          Trace(absl::StrCat(h.name, ": cvold killed"));
          h.daemon->alive = false;
          Schedule(Uniform(absl::Milliseconds(100), 3 * ttl), [this, &h] {
            if (h.up && (h.daemon == nullptr || !h.daemon->alive)) StartDaemon(h);
          });
        });
        break;
      case 1:  // the machine crashes and reboots
        Schedule(at, [this, &h, ttl] {
          if (!h.up) return;
          Trace(absl::StrCat(h.name, ": machine crash"));
          h.up = false;
          if (h.daemon) h.daemon->alive = false;
          h.kernel->Crash();
          Schedule(Uniform(absl::Milliseconds(100), 3 * ttl), [this, &h] {
            h.up = true;
            Trace(absl::StrCat(h.name, ": reboot"));
            StartDaemon(h);
          });
        });
        break;
      case 2:  // SIGSTOP past the lease
        Schedule(at, [this, &h, ttl] {
          if (h.daemon == nullptr) return;
          h.daemon->stalled_until = now_ + Uniform(ttl / 2, 3 * ttl);
          Trace(absl::StrCat(h.name, ": cvold stopped until ",
                             absl::FormatDuration(h.daemon->stalled_until - now_), " from now"));
        });
        break;
      case 3:  // etcd unavailable
        Schedule(at, [this] {
          Trace("etcd unavailable");
          kv_.SetUnavailable(true);
          Schedule(Uniform(absl::Seconds(1), absl::Seconds(8)), [this] {
            Trace("etcd back");
            kv_.SetUnavailable(false);
          });
        });
        break;
      case 4:  // alive and renewing, but answering no peer request
        Schedule(at, [this, &h, ttl] {
          h.silent_until = now_ + Uniform(ttl / 2, 4 * ttl);
          Trace(absl::StrCat(h.name, ": silent to peers"));
        });
        break;
      case 5:  // the copier's destination write fails
        Schedule(at, [&h] { h.kernel->FailNextDestinationWrite(); });
        break;
      case 6:  // a table reload ends the host's freezes, soon after one is taken
        Schedule(at, [this, &h] { BreakFreezeSoon(h, now_ + absl::Seconds(10)); });
        break;
      case 8:  // during a re-copy, another host's freeze ends and it writes that region
        for (auto& copier : hosts_) {
          Host* target = &h;
          // Twice at most: a fault, not a host that never stops being
          // suspended (its copier would never end a round).
          auto shots = std::make_shared<int>(2);
          copier->kernel->set_during_recopy([this, target, shots](uint64_t vext, uint32_t region) {
            if (healed_ || *shots == 0 || !target->up || Chance(0.7)) return;
            --*shots;
            Trace(absl::StrCat(target->name, ": suspended and resumed during a re-copy"));
            target->kernel->BreakFreezes();
            (void)target->kernel->Write(absl::StrCat(kPool, "/", kVolume), vext, region,
                                        next_value_++);
          });
        }
        break;
      case 9:  // its peer links are cut, etcd still answers it (the Primary: it steps down)
        Schedule(at, [this, &h, ttl] {
          h.cut_off_until = now_ + Uniform(ttl, 6 * ttl);
          Trace(absl::StrCat(h.name, ": cut off from its peers until ",
                             absl::FormatDuration(h.cut_off_until - now_), " from now"));
        });
        break;
      case 7:  // another change excludes a host while a copy runs (marker, revoke)
        Schedule(at, [this, &h] { RevokeDuringCopy(h, now_ + absl::Seconds(10)); });
        break;
    }
  }
}

void World::BreakFreezeSoon(Host& h, absl::Time until) {
  if (now_ > until) return;
  if (h.kernel->FreezesOf(absl::StrCat(kPool, "/", kVolume)).empty()) {
    Schedule(absl::Milliseconds(1), [this, &h, until] { BreakFreezeSoon(h, until); });
    return;
  }
  Schedule(Uniform(absl::ZeroDuration(), absl::Milliseconds(15)), [this, &h] {
    Trace(absl::StrCat(h.name, ": suspended and resumed (its freezes end)"));
    h.kernel->BreakFreezes();
  });
}

void World::RevokeDuringCopy(Host& h, absl::Time until) {
  if (now_ > until || h.daemon == nullptr || h.daemon->membership == nullptr) return;
  absl::StatusOr<Snapshot> snap = db_.Load();
  bool copying = false;
  if (snap.ok()) {
    for (const auto& [key, m] : snap->moves) copying |= m.record.step == MoveRecord::Step::kCopy;
  }
  if (!copying) {
    Schedule(absl::Milliseconds(5), [this, &h, until] { RevokeDuringCopy(h, until); });
    return;
  }
  Trace(absl::StrCat(h.name, ": lease revoked by another change"));
  if (cluster::Membership::MarkDeparting(kv_, kPrefix, h.name, options_.lease_ttl_s).ok()) {
    (void)kv_.LeaseRevoke(h.daemon->membership->lease());
  }
}

void World::CheckInvariants() {
  if (failed()) return;
  const int64_t revision = kv_.revision();
  if (revision != checked_revision_) {
    absl::StatusOr<Snapshot> snap = db_.Load();
    if (!snap.ok()) return;  // etcd away: nothing changes there either
    checked_revision_ = revision;
    const VolumeRecord* volume = snap->FindVolume(kPool, kVolume);
    etcd_map_.clear();
    for (const cvol::Run& r : volume->runs) {
      for (uint64_t k = 0; k < r.count; ++k) etcd_map_[r.vext + k] = Location{r.dev, r.pext + k};
    }
    std::map<std::string, MoveRecord> moves;
    for (const auto& [key, m] : snap->moves) {
      moves[key] = m.record;
      auto before = last_moves_.find(key);
      // An exclusion is recorded only once the host can no longer write.
      for (const std::string& host : m.record.excluded) {
        if (before != last_moves_.end() &&
            std::find(before->second.excluded.begin(), before->second.excluded.end(), host) !=
                before->second.excluded.end()) {
          continue;
        }
        Host* x = FindHost(host);
        if (x != nullptr && x->up && x->kernel->writable() &&
            x->kernel->HasVolume(absl::StrCat(kPool, "/", kVolume))) {
          Fail(absl::StrCat(host, " was recorded as excluded from ", key,
                            " while its kernel could still write"));
        }
        excluded_.insert(host);
      }
      // One controller per change at a time: epochs only grow.
      if (before != last_moves_.end() && m.record.epoch < before->second.epoch) {
        Fail(absl::StrCat(key, ": a controller of epoch ", m.record.epoch,
                          " wrote after one of epoch ", before->second.epoch));
      }
    }
    last_moves_ = std::move(moves);
  }
  // An excluded host writes nowhere until it re-integrates.
  const std::vector<DiskWrite>& log = disks_->log();
  for (; disk_log_checked_ < log.size(); ++disk_log_checked_) {
    const DiskWrite& w = log[disk_log_checked_];
    if (excluded_.contains(w.host)) {
      Fail(absl::StrCat(w.host, " wrote ", ToString(w.location), " region ", w.region,
                        " after it was excluded"));
      return;
    }
  }
  // Every acknowledged write is where etcd's map says the extent is.
  for (const auto& [at, value] : acked_) {
    auto loc = etcd_map_.find(at.first);
    if (loc == etcd_map_.end()) continue;
    const uint64_t got = disks_->Read(loc->second, at.second);
    if (got != value) {
      Fail(absl::StrCat("lost write: extent ", at.first, " region ", at.second, " acked ", value,
                        " but ", ToString(loc->second), " holds ", got));
      return;
    }
  }
}

void World::CheckQuiescent() {
  absl::StatusOr<Snapshot> snap = db_.Load();
  if (!snap.ok()) return Fail(absl::StrCat("etcd: ", snap.status().message()));
  if (!snap->moves.empty()) {
    return Fail(absl::StrCat(snap->moves.size(), " move(s) still recorded after ",
                             absl::FormatDuration(options_.settle), " without faults"));
  }
  const std::string name = absl::StrCat(kPool, "/", kVolume);
  for (auto& h : hosts_) {
    Daemon* d = h->daemon.get();
    if (d == nullptr || d->state != AgentState::kActive) {
      return Fail(absl::StrCat(h->name, " has not re-integrated after the faults ended"));
    }
    for (const auto& [vext, loc] : etcd_map_) {
      if (h->kernel->MapOf(name, vext) != loc) {
        return Fail(absl::StrCat(h->name, "'s kernel maps extent ", vext, " elsewhere than etcd"));
      }
    }
    if (h->kernel->held_writes() != 0) {
      return Fail(absl::StrCat(h->name, " still holds ", h->kernel->held_writes(), " write(s)"));
    }
  }
}

SimResult World::Run() {
  SetLogSink([this](absl::string_view line) { Trace(std::string(line)); });
  Setup();
  RunUntil(now_ + absl::Seconds(1));
  StartMoves();
  for (auto& h : hosts_) {
    Host* raw = h.get();
    Schedule(Uniform(absl::ZeroDuration(), absl::Milliseconds(50)), [this, raw] { WriterTick(*raw); });
  }
  write_pace_ = absl::Milliseconds(std::vector<int>{80, 400, 1500}[rng_() % 3]);
  // The kernels' background copiers and timers.
  std::function<void()> kernels;
  kernels = [this, &kernels] {
    for (auto& h : hosts_) {
      if (h->up) h->kernel->Tick();
    }
    Schedule(absl::Milliseconds(50), kernels);
  };
  Schedule(absl::Milliseconds(50), kernels);
  // The copier's pace (a half-step reads or writes every region in flight
  // at once): a fast destination, or one slow enough that a copy outlasts
  // most of a lease TTL (hosts come and go while it runs).
  const absl::Duration copy_step =
      absl::Milliseconds(std::vector<int>{5, 20, 100, 400, 1500}[rng_() % 5]);
  std::function<void()> copiers;
  copiers = [this, &copiers, copy_step] {
    for (auto& h : hosts_) {
      if (h->up) h->kernel->CopyStep();
    }
    Schedule(copy_step, copiers);
  };
  Schedule(copy_step, copiers);
  if (options_.faults) PlanFaults();
  const absl::Time start = now_;
  RunUntil(start + options_.fault_window);
  // Heal: every fault ends; messages arrive.
  message_loss_ = 0;
  kv_.SetUnavailable(false);
  for (auto& h : hosts_) {
    h->silent_until = absl::InfinitePast();
    if (h->cut_off_until != absl::InfiniteFuture()) h->cut_off_until = absl::InfinitePast();
    if (!h->up) {
      h->up = true;
      StartDaemon(*h);
    } else if (h->daemon == nullptr || !h->daemon->alive) {
      StartDaemon(*h);
    }
  }
  // Run until the moves are over and everyone is back, or the bound.
  const absl::Time bound = now_ + options_.settle;
  while (!failed() && now_ < bound) {
    RunUntil(now_ + absl::Seconds(1));
    absl::StatusOr<Snapshot> snap = db_.Load();
    bool all_active = true;
    for (auto& h : hosts_) {
      // Held writes wait at most for a freeze's timeout.
      all_active = all_active && h->daemon != nullptr &&
                   h->daemon->state == AgentState::kActive && h->kernel->held_writes() == 0;
    }
    if (snap.ok() && snap->moves.empty() && all_active) {
      RunUntil(now_ + absl::Milliseconds(500));  // writes in flight land
      break;
    }
  }
  if (!failed()) CheckQuiescent();
  result_.simulated = now_ - (absl::UnixEpoch() + absl::Hours(1));
  result_.trace.assign(trace_.begin(), trace_.end());
  events_.clear();
  SetLogSink(nullptr);
  return result_;
}

}  // namespace

SimResult RunSimulation(const SimOptions& options) {
  World world(options);
  return world.Run();
}

}  // namespace cvol::daemon::sim
