#include "log.h"

#include <cstdio>
#include <mutex>
#include <string>

namespace cvol::daemon {
namespace {

std::mutex log_mu;

void Write(const char* priority, absl::string_view message) {
  std::string line = priority;
  line.append(message.data(), message.size());
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(log_mu);
  fwrite(line.data(), 1, line.size(), stderr);
  fflush(stderr);
}

}  // namespace

void LogError(absl::string_view message) { Write("<3>", message); }
void LogWarning(absl::string_view message) { Write("<4>", message); }
void LogInfo(absl::string_view message) { Write("<6>", message); }

}  // namespace cvol::daemon
