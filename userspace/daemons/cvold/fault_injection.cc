#include "fault_injection.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "log.h"

namespace cvol::daemon {

bool FaultFires(absl::string_view name) {
  static const char* const path = getenv("CVOLD_FAULT_FILE");
  if (path == nullptr || *path == '\0') return false;
  // Two threads must not both fire a one-shot fault.
  static absl::Mutex mu(absl::kConstInit);
  absl::MutexLock lock(&mu);
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  if (absl::StripAsciiWhitespace(text.str()) != name) return false;
  unlink(path);
  LogWarning(absl::StrCat("fault injected: ", name));
  return true;
}

void CrashIfFaultFires(absl::string_view name) {
  if (FaultFires(name)) raise(SIGKILL);
}

}  // namespace cvol::daemon
