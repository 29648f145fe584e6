// Typed access to cvold's records in the KvStore (etcd). Reads take one
// consistent snapshot of everything under the prefix, or (for a loop that
// polls one move) only the records of one move; writes are ChangeSets
// committed as one guarded transaction that fails (kAborted) if any record
// it depends on changed since it was read. Callers re-read and retry.
//
// Key layout, under the configured prefix (default "/cvol/"):
//   pools/<pool>                  PoolRecord
//   pvs/<pv uuid>                 PvRecord
//   volumes/<pool>/<volume>       VolumeRecord
//   moves/<pool>/<volume>/<vext>  MoveRecord (vext zero-padded to 20 digits)
#ifndef CVOL_CVOLD_CONFIG_DB_H_
#define CVOL_CVOLD_CONFIG_DB_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cvol/store/kv_store.h"
#include "records.h"

namespace cvol::daemon {

template <typename T>
struct Versioned {
  T record;
  int64_t mod_revision = 0;
};

struct Snapshot {
  int64_t revision = 0;
  std::map<std::string, Versioned<PoolRecord>> pools;                        // by name
  std::map<std::string, Versioned<PvRecord>> pvs;                            // by uuid
  std::map<std::pair<std::string, std::string>, Versioned<VolumeRecord>> volumes;  // (pool, name)
  std::map<std::string, Versioned<MoveRecord>> moves;                        // by key

  std::vector<const PvRecord*> PvsOf(const std::string& pool) const;  // by slot
  std::vector<const VolumeRecord*> VolumesOf(const std::string& pool) const;
  std::vector<const MoveRecord*> MovesOf(const std::string& pool) const;
  // A move of the volume that a cluster controller has taken up (some host
  // may run its migration): the volume is neither re-integrated nor
  // reloaded meanwhile.
  bool HasTakenUpMove(const std::string& pool, const std::string& volume) const;
  const VolumeRecord* FindVolume(const std::string& pool, const std::string& name) const;
};

// The records one move works with, read key by key instead of the whole
// prefix (a move's loop reads them every 100 ms). The move is read before
// and after the others and was the same both times, so the move and its
// volume are as of one revision; a ChangeSet built on them guards each
// record it changes by the mod_revision read, as with a Snapshot. It holds
// no other volume's map and no other move: free space (PoolView) and the
// volume's queue of moves (MayStartMigrations) need a Snapshot.
struct MoveScope {
  Versioned<MoveRecord> move;
  Versioned<VolumeRecord> volume;
  Versioned<PoolRecord> pool;
};

class ConfigDb;

// The writes of one transaction and the guards that make it safe.
class ChangeSet {
 public:
  explicit ChangeSet(const ConfigDb& db) : db_(db) {}

  // Changes the pool's allocation: guarded by, and bumping, the pool record.
  void ChangeAllocation(const Versioned<PoolRecord>& pool);
  void CreatePool(const PoolRecord& pool);
  void CreatePv(const PvRecord& pv);
  void DeletePv(const Versioned<PvRecord>& pv);
  void CreateVolume(const VolumeRecord& volume);
  void UpdateVolume(const Versioned<VolumeRecord>& old, const VolumeRecord& updated);
  void DeleteVolume(const Versioned<VolumeRecord>& volume);
  void CreateMove(const MoveRecord& move);
  void UpdateMove(const Versioned<MoveRecord>& old, const MoveRecord& updated);
  void DeleteMove(const Versioned<MoveRecord>& move);
  // An extra guard (the controller's: its campaign key is still the one
  // of its epoch).
  void Require(store::Compare compare) { compares_.push_back(std::move(compare)); }

 private:
  friend class ConfigDb;
  const ConfigDb& db_;
  std::vector<store::Compare> compares_;
  std::vector<store::Op> ops_;
};

class ConfigDb {
 public:
  ConfigDb(store::KvStore& kv, std::string prefix) : kv_(kv), prefix_(std::move(prefix)) {}

  absl::StatusOr<Snapshot> Load() const;

  // One record each; nullopt if absent.
  absl::StatusOr<std::optional<Versioned<PoolRecord>>> LoadPool(const std::string& pool) const;
  absl::StatusOr<std::optional<Versioned<VolumeRecord>>> LoadVolume(
      const std::string& pool, const std::string& name) const;
  absl::StatusOr<std::optional<Versioned<MoveRecord>>> LoadMoveRecord(
      const std::string& key) const;
  // Every move of one volume, by key (one read).
  absl::StatusOr<std::map<std::string, Versioned<MoveRecord>>> LoadMovesOf(
      const std::string& pool, const std::string& volume) const;
  // The move under key with its volume and pool; nullopt once the move is
  // over (its record is gone). kDataLoss if the move outlives its volume or
  // pool; kAborted if the move kept changing while it was read.
  absl::StatusOr<std::optional<MoveScope>> LoadMove(const std::string& key) const;

  // kAborted if a guard failed (someone else changed a record first).
  absl::Status Commit(const ChangeSet& change);

  std::string PoolKey(const std::string& pool) const;
  std::string PvKey(const std::string& uuid) const;
  std::string VolumeKey(const std::string& pool, const std::string& name) const;
  std::string MoveKey(const std::string& pool, const std::string& volume, uint64_t vext) const;
  std::string MoveKey(const MoveRecord& move) const {
    return MoveKey(move.pool, move.volume, move.vext);
  }

 private:
  store::KvStore& kv_;
  std::string prefix_;
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_CONFIG_DB_H_
