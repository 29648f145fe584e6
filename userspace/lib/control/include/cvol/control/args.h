// Strict reading of a request's "args" object, for the daemon's command
// handlers:
//
//   ArgReader r(request.args);
//   absl::StatusOr<std::string> volume = r.String("volume");
//   absl::StatusOr<uint64_t> size = r.Uint("size_bytes");
//   if (absl::Status s = r.Finish(); !s.ok()) return s;   // before acting
//
// A missing or mistyped argument is INVALID_ARGUMENT naming it. Finish()
// returns the first error any accessor returned, else names an argument
// nothing read ("unknown argument 'x'"), so a handler that checks Finish()
// before it changes anything never acts on a request it half understood.
// A JSON null counts as absent (optional arguments take their default).
#ifndef CVOL_CONTROL_ARGS_H_
#define CVOL_CONTROL_ARGS_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace cvol::control {

class ArgReader {
 public:
  // `args` must outlive the reader. Anything but an object is an error that
  // every accessor and Finish() report.
  explicit ArgReader(const nlohmann::json& args);

  ArgReader(const ArgReader&) = delete;
  ArgReader& operator=(const ArgReader&) = delete;

  absl::StatusOr<std::string> String(std::string_view name);
  absl::StatusOr<std::optional<std::string>> OptionalString(std::string_view name);
  // A JSON integer >= 0 that fits in 64 bits; negative, fractional and
  // exponent forms (1e3) are refused.
  absl::StatusOr<uint64_t> Uint(std::string_view name);
  absl::StatusOr<std::optional<uint64_t>> OptionalUint(std::string_view name);
  absl::StatusOr<bool> Bool(std::string_view name, bool default_value);
  // A required value of any JSON type, for structured arguments the caller
  // checks itself.
  absl::StatusOr<nlohmann::json> Raw(std::string_view name);

  absl::Status Finish();

 private:
  // The argument's value, nullptr if absent or null; marks it read.
  absl::StatusOr<const nlohmann::json*> Find(std::string_view name);
  // Remembers the first error for Finish() and returns it.
  absl::Status Fail(absl::Status status);

  const nlohmann::json& args_;
  std::set<std::string, std::less<>> read_;
  absl::Status first_error_;
};

}  // namespace cvol::control

#endif  // CVOL_CONTROL_ARGS_H_
