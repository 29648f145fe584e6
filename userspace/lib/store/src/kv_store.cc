#include "cvol/store/kv_store.h"

#include <utility>

namespace cvol::store {

namespace {

Compare NumberIs(std::string key, Compare::Target target, int64_t number) {
  Compare c;
  c.key = std::move(key);
  c.target = target;
  c.result = Compare::Result::kEqual;
  c.number = number;
  return c;
}

}  // namespace

Compare Compare::ModRevisionIs(std::string key, int64_t revision) {
  return NumberIs(std::move(key), Target::kModRevision, revision);
}

Compare Compare::VersionIs(std::string key, int64_t version) {
  return NumberIs(std::move(key), Target::kVersion, version);
}

Compare Compare::CreateRevisionIs(std::string key, int64_t revision) {
  return NumberIs(std::move(key), Target::kCreateRevision, revision);
}

Compare Compare::ValueIs(std::string key, std::string value) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::kValue;
  c.result = Result::kEqual;
  c.value = std::move(value);
  return c;
}

Op Op::Put(std::string key, std::string value, int64_t lease) {
  Op op;
  op.kind = Kind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.lease = lease;
  return op;
}

Op Op::Delete(std::string key) {
  Op op;
  op.kind = Kind::kDelete;
  op.key = std::move(key);
  return op;
}

absl::StatusOr<WatchResult> KvStore::WaitForChange(const std::string&, int64_t,
                                                  absl::Duration) {
  return absl::UnimplementedError("this store cannot watch");
}

Op Op::DeletePrefix(std::string prefix) {
  Op op;
  op.kind = Kind::kDeletePrefix;
  op.key = std::move(prefix);
  return op;
}

}  // namespace cvol::store
