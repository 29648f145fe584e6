// Small helpers shared by the unit tests.
#ifndef CVOL_TESTS_UNIT_TEST_UTIL_H_
#define CVOL_TESTS_UNIT_TEST_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cvol::testing {

// The error message, or "OK" so that a test expecting an error fails with
// a readable diff.
inline std::string ErrorOf(const absl::Status& status) {
  return status.ok() ? "OK" : std::string(status.message());
}

template <typename T>
std::string ErrorOf(const absl::StatusOr<T>& value) {
  return ErrorOf(value.status());
}

}  // namespace cvol::testing

#endif  // CVOL_TESTS_UNIT_TEST_UTIL_H_
