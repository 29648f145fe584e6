#include "config_db.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {

using store::Compare;
using store::Op;

std::vector<const PvRecord*> Snapshot::PvsOf(const std::string& pool) const {
  std::vector<const PvRecord*> out;
  for (const auto& [uuid, pv] : pvs) {
    if (pv.record.pool == pool) out.push_back(&pv.record);
  }
  std::sort(out.begin(), out.end(),
            [](const PvRecord* a, const PvRecord* b) { return a->slot < b->slot; });
  return out;
}

std::vector<const VolumeRecord*> Snapshot::VolumesOf(const std::string& pool) const {
  std::vector<const VolumeRecord*> out;
  for (const auto& [key, volume] : volumes) {
    if (key.first == pool) out.push_back(&volume.record);
  }
  return out;
}

std::vector<const MoveRecord*> Snapshot::MovesOf(const std::string& pool) const {
  std::vector<const MoveRecord*> out;
  for (const auto& [key, move] : moves) {
    if (move.record.pool == pool) out.push_back(&move.record);
  }
  return out;
}

bool Snapshot::HasTakenUpMove(const std::string& pool, const std::string& volume) const {
  for (const auto& [key, move] : moves) {
    const MoveRecord& m = move.record;
    if (m.pool == pool && m.volume == volume && m.TakenUp()) return true;
  }
  return false;
}

const VolumeRecord* Snapshot::FindVolume(const std::string& pool,
                                         const std::string& name) const {
  auto it = volumes.find({pool, name});
  return it == volumes.end() ? nullptr : &it->second.record;
}

void ChangeSet::ChangeAllocation(const Versioned<PoolRecord>& pool) {
  compares_.push_back(Compare::ModRevisionIs(db_.PoolKey(pool.record.name), pool.mod_revision));
  PoolRecord bumped = pool.record;
  ++bumped.alloc_gen;
  ops_.push_back(Op::Put(db_.PoolKey(bumped.name), EncodePool(bumped)));
}

void ChangeSet::CreatePool(const PoolRecord& pool) {
  compares_.push_back(Compare::Absent(db_.PoolKey(pool.name)));
  ops_.push_back(Op::Put(db_.PoolKey(pool.name), EncodePool(pool)));
}

void ChangeSet::CreatePv(const PvRecord& pv) {
  compares_.push_back(Compare::Absent(db_.PvKey(pv.uuid)));
  ops_.push_back(Op::Put(db_.PvKey(pv.uuid), EncodePv(pv)));
}

void ChangeSet::DeletePv(const Versioned<PvRecord>& pv) {
  compares_.push_back(Compare::ModRevisionIs(db_.PvKey(pv.record.uuid), pv.mod_revision));
  ops_.push_back(Op::Delete(db_.PvKey(pv.record.uuid)));
}

void ChangeSet::CreateVolume(const VolumeRecord& volume) {
  const std::string key = db_.VolumeKey(volume.pool, volume.name);
  compares_.push_back(Compare::Absent(key));
  ops_.push_back(Op::Put(key, EncodeVolume(volume)));
}

void ChangeSet::UpdateVolume(const Versioned<VolumeRecord>& old, const VolumeRecord& updated) {
  const std::string key = db_.VolumeKey(old.record.pool, old.record.name);
  compares_.push_back(Compare::ModRevisionIs(key, old.mod_revision));
  ops_.push_back(Op::Put(key, EncodeVolume(updated)));
}

void ChangeSet::DeleteVolume(const Versioned<VolumeRecord>& volume) {
  const std::string key = db_.VolumeKey(volume.record.pool, volume.record.name);
  compares_.push_back(Compare::ModRevisionIs(key, volume.mod_revision));
  ops_.push_back(Op::Delete(key));
}

void ChangeSet::CreateMove(const MoveRecord& move) {
  compares_.push_back(Compare::Absent(db_.MoveKey(move)));
  ops_.push_back(Op::Put(db_.MoveKey(move), EncodeMove(move)));
}

void ChangeSet::UpdateMove(const Versioned<MoveRecord>& old, const MoveRecord& updated) {
  compares_.push_back(Compare::ModRevisionIs(db_.MoveKey(old.record), old.mod_revision));
  ops_.push_back(Op::Put(db_.MoveKey(updated), EncodeMove(updated)));
}

void ChangeSet::DeleteMove(const Versioned<MoveRecord>& move) {
  compares_.push_back(Compare::ModRevisionIs(db_.MoveKey(move.record), move.mod_revision));
  ops_.push_back(Op::Delete(db_.MoveKey(move.record)));
}

std::string ConfigDb::PoolKey(const std::string& pool) const {
  return absl::StrCat(prefix_, "pools/", pool);
}
std::string ConfigDb::PvKey(const std::string& uuid) const {
  return absl::StrCat(prefix_, "pvs/", uuid);
}
std::string ConfigDb::VolumeKey(const std::string& pool, const std::string& name) const {
  return absl::StrCat(prefix_, "volumes/", pool, "/", name);
}
std::string ConfigDb::MoveKey(const std::string& pool, const std::string& volume,
                              uint64_t vext) const {
  return absl::StrFormat("%smoves/%s/%s/%020u", prefix_, pool, volume, vext);
}

absl::StatusOr<Snapshot> ConfigDb::Load() const {
  ASSIGN_OR_RETURN(store::RangeResult range, kv_.Range(prefix_));
  Snapshot snap;
  snap.revision = range.revision;
  for (const store::KeyValue& kv : range.kvs) {
    const std::string rest = kv.key.substr(prefix_.size());
    const int64_t rev = kv.mod_revision;
    if (absl::StartsWith(rest, "pools/")) {
      ASSIGN_OR_RETURN(PoolRecord r, DecodePool(kv.value));
      const std::string name = r.name;  // before the move below
      snap.pools[name] = {std::move(r), rev};
    } else if (absl::StartsWith(rest, "pvs/")) {
      ASSIGN_OR_RETURN(PvRecord r, DecodePv(kv.value));
      const std::string uuid = r.uuid;
      snap.pvs[uuid] = {std::move(r), rev};
    } else if (absl::StartsWith(rest, "volumes/")) {
      ASSIGN_OR_RETURN(VolumeRecord r, DecodeVolume(kv.value));
      std::pair<std::string, std::string> name{r.pool, r.name};
      snap.volumes[name] = {std::move(r), rev};
    } else if (absl::StartsWith(rest, "moves/")) {
      ASSIGN_OR_RETURN(MoveRecord r, DecodeMove(kv.value));
      snap.moves[kv.key] = {std::move(r), rev};
    }
    // Other keys (members, the cluster's own records) are not ours to read.
  }
  return snap;
}

namespace {

// The record under key, decoded, with its mod_revision; nullopt if absent.
template <typename T, typename Decode>
absl::StatusOr<std::optional<Versioned<T>>> LoadOne(store::KvStore& kv, const std::string& key,
                                                    Decode decode) {
  ASSIGN_OR_RETURN(std::optional<store::KeyValue> got, kv.Get(key));
  if (!got.has_value()) return std::nullopt;
  ASSIGN_OR_RETURN(T record, decode(got->value));
  return Versioned<T>{std::move(record), got->mod_revision};
}

}  // namespace

absl::StatusOr<std::optional<Versioned<PoolRecord>>> ConfigDb::LoadPool(
    const std::string& pool) const {
  return LoadOne<PoolRecord>(kv_, PoolKey(pool), DecodePool);
}

absl::StatusOr<std::optional<Versioned<VolumeRecord>>> ConfigDb::LoadVolume(
    const std::string& pool, const std::string& name) const {
  return LoadOne<VolumeRecord>(kv_, VolumeKey(pool, name), DecodeVolume);
}

absl::StatusOr<std::optional<Versioned<MoveRecord>>> ConfigDb::LoadMoveRecord(
    const std::string& key) const {
  return LoadOne<MoveRecord>(kv_, key, DecodeMove);
}

absl::StatusOr<std::map<std::string, Versioned<MoveRecord>>> ConfigDb::LoadMovesOf(
    const std::string& pool, const std::string& volume) const {
  ASSIGN_OR_RETURN(store::RangeResult range,
                   kv_.Range(absl::StrCat(prefix_, "moves/", pool, "/", volume, "/")));
  std::map<std::string, Versioned<MoveRecord>> moves;
  for (const store::KeyValue& kv : range.kvs) {
    ASSIGN_OR_RETURN(MoveRecord r, DecodeMove(kv.value));
    moves[kv.key] = {std::move(r), kv.mod_revision};
  }
  return moves;
}

absl::StatusOr<std::optional<MoveScope>> ConfigDb::LoadMove(const std::string& key) const {
  // A move changes a few times in its life: one more read is nearly
  // always enough.
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<Versioned<MoveRecord>> move, LoadMoveRecord(key));
    if (!move.has_value()) return std::nullopt;
    const MoveRecord& m = move->record;
    ASSIGN_OR_RETURN(std::optional<Versioned<VolumeRecord>> volume, LoadVolume(m.pool, m.volume));
    ASSIGN_OR_RETURN(std::optional<Versioned<PoolRecord>> pool, LoadPool(m.pool));
    ASSIGN_OR_RETURN(std::optional<Versioned<MoveRecord>> again, LoadMoveRecord(key));
    if (!again.has_value()) return std::nullopt;
    if (again->mod_revision != move->mod_revision) continue;
    if (!volume.has_value() || !pool.has_value()) {
      return absl::DataLossError("the move's volume is gone");
    }
    return MoveScope{*std::move(move), *std::move(volume), *std::move(pool)};
  }
  return absl::AbortedError("the move's record kept changing while it was read");
}

absl::Status ConfigDb::Commit(const ChangeSet& change) {
  ASSIGN_OR_RETURN(store::TxnResult result, kv_.Txn(change.compares_, change.ops_));
  if (!result.succeeded) {
    return absl::AbortedError("the configuration changed meanwhile (another change won the race)");
  }
  return absl::OkStatus();
}

}  // namespace cvol::daemon
