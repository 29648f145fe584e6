// This Abseil build's absl::string_view is its own class, not
// std::string_view, so absl::StrCat does not take a std::string_view. The
// library's API uses std::string_view; Av() bridges at the call sites.
#ifndef CVOL_CONTROL_SRC_ABSL_VIEW_H_
#define CVOL_CONTROL_SRC_ABSL_VIEW_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace cvol::control::internal {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace cvol::control::internal

#endif  // CVOL_CONTROL_SRC_ABSL_VIEW_H_
