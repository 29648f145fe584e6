// Typed access to cvold's records in the KvStore (etcd). Reads take one
// consistent snapshot of everything under the prefix; writes are ChangeSets
// committed as one guarded transaction that fails (kAborted) if any record
// it depends on changed since the snapshot. Callers re-read and retry.
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
