// The human form of one event of `clusterctl events`.
#ifndef CVOL_CLUSTERCTL_EVENTS_FORMAT_H_
#define CVOL_CLUSTERCTL_EVENTS_FORMAT_H_

#include <string>

#include "nlohmann/json.hpp"

namespace cvol::clusterctl {

// "2024-05-01T12:00:00.123Z move_done pool1/vol1 vext=3 pv=pv1"
std::string FormatEvent(const nlohmann::json& event);

}  // namespace cvol::clusterctl

#endif  // CVOL_CLUSTERCTL_EVENTS_FORMAT_H_
