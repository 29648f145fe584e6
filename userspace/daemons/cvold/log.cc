#include "log.h"

#include <cstdio>
#include <mutex>
#include <string>

namespace cvol::daemon {
namespace {

std::mutex log_mu;
std::function<void(absl::string_view)>* log_sink = nullptr;  // under log_mu

void Write(const char* priority, absl::string_view message) {
  std::string line = priority;
  line.append(message.data(), message.size());
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(log_mu);
  if (log_sink != nullptr) {
    line.pop_back();
    (*log_sink)(line);
    return;
  }
  fwrite(line.data(), 1, line.size(), stderr);
  fflush(stderr);
}

}  // namespace

void SetLogSink(std::function<void(absl::string_view line)> sink) {
  std::lock_guard<std::mutex> lock(log_mu);
  delete log_sink;
  log_sink = sink ? new std::function<void(absl::string_view)>(std::move(sink)) : nullptr;
}

void LogError(absl::string_view message) { Write("<3>", message); }
void LogWarning(absl::string_view message) { Write("<4>", message); }
void LogInfo(absl::string_view message) { Write("<6>", message); }

}  // namespace cvol::daemon
