// cvol-events: subscribes to the cvol target's generic netlink events and
// prints each as one JSON line on stdout, flushed at once, so that a test
// or a shell pipeline sees it as soon as it arrives. A jump in a volume's
// sequence numbers is printed as {"type":"gap","uuid":..,"expected":..,
// "got":..}; a receive-buffer overrun as {"type":"overrun"}.
//
// Exit codes: 0 ok (--count reached, or stdout closed), 1 error (e.g. the
// dm-cvol module is not loaded), 2 usage error, 3 --timeout-ms passed
// without an event.
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include <boost/program_options.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cvol/decimal.h"
#include "cvol/event.h"
#include "cvol/event_listener.h"
#include "cvol/json_line.h"
#include "cvol/seq_gap.h"
#include "cvol/status_macros.h"

namespace cvol::events {
namespace {

namespace po = boost::program_options;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitTimeout = 3;

int Usage(absl::string_view message) {
  std::cerr << "cvol-events: " << message << "\nTry 'cvol-events --help'.\n";
  return kExitUsage;
}

int Fail(absl::string_view message) {
  std::cerr << "cvol-events: " << message << "\n";
  return kExitError;
}

// False once stdout is gone (the reader of a pipe quit): then there is no
// one left to tell, and the tool ends quietly.
bool PrintLine(const std::string& line) {
  std::cout << line << '\n' << std::flush;
  return static_cast<bool>(std::cout);
}

absl::StatusOr<std::optional<uint64_t>> NumberOption(const po::variables_map& vm,
                                                     const char* name) {
  if (!vm.count(name)) return std::optional<uint64_t>();
  ASSIGN_OR_RETURN(uint64_t n, ParseDecimal(vm[name].as<std::string>(), absl::StrCat("--", name)));
  return std::optional<uint64_t>(n);
}

int Main(int argc, char** argv) {
  // A closed stdout is then a write error PrintLine sees, not a kill.
  std::signal(SIGPIPE, SIG_IGN);
  po::options_description options(
      "Usage: cvol-events [options]\n\n"
      "Prints the events of cvol volumes as JSON lines, one per event.\n"
      "Exit status: 0 ok, 1 error, 2 usage error, 3 timeout.\n\nOptions");
  options.add_options()("help,h", "show this help")(
      "count", po::value<std::string>(), "exit after N events (after the --uuid filter)")(
      "timeout-ms", po::value<std::string>(),
      "exit with status 3 when no event arrived for T ms")(
      "uuid", po::value<std::string>(), "only events of the volume with this uuid")(
      "ready-file", po::value<std::string>(),
      "create this file once subscribed: events raised after that are seen");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, options), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return Usage(e.what());
  }
  if (vm.count("help")) {
    std::cout << options;
    return kExitOk;
  }
  absl::StatusOr<std::optional<uint64_t>> count = NumberOption(vm, "count");
  if (!count.ok()) return Usage(count.status().message());
  absl::StatusOr<std::optional<uint64_t>> timeout_ms = NumberOption(vm, "timeout-ms");
  if (!timeout_ms.ok()) return Usage(timeout_ms.status().message());
  const std::optional<std::string> uuid =
      vm.count("uuid") ? std::optional<std::string>(vm["uuid"].as<std::string>())
                       : std::nullopt;
  if (*count && **count == 0) return kExitOk;

  absl::StatusOr<std::unique_ptr<EventListener>> listener = EventListener::Open();
  if (!listener.ok()) return Fail(listener.status().message());

  if (vm.count("ready-file")) {
    const std::string path = vm["ready-file"].as<std::string>();
    std::ofstream ready(path);
    if (!(ready << "ready\n") || !(ready.close(), ready)) {
      return Fail(absl::StrCat("cannot create the ready file \"", path, "\""));
    }
  }

  const absl::Duration idle =
      *timeout_ms ? absl::Milliseconds(static_cast<int64_t>(std::min<uint64_t>(
                        **timeout_ms, uint64_t{1} << 53)))
                  : absl::InfiniteDuration();
  SeqGapDetector gaps;
  uint64_t printed = 0;
  absl::Time deadline = absl::Now() + idle;
  for (;;) {
    absl::StatusOr<std::optional<Event>> event = (*listener)->Receive(
        idle == absl::InfiniteDuration() ? idle : std::max(deadline - absl::Now(),
                                                           absl::ZeroDuration()));
    if (!event.ok()) {
      if (absl::IsResourceExhausted(event.status())) {
        // Which volumes lost events is unknown: every volume's next event
        // starts a fresh comparison, and the consumer resynchronises.
        gaps = SeqGapDetector();
        std::cerr << "cvol-events: " << event.status().message() << "\n";
        if (!PrintLine(JsonObjectWriter().Add("type", "overrun").Finish())) return kExitOk;
        continue;
      }
      if (absl::IsInvalidArgument(event.status())) {
        // One malformed message; the next may be fine.
        std::cerr << "cvol-events: skipping a message: " << event.status().message() << "\n";
        continue;
      }
      return Fail(event.status().message());
    }
    if (!event->has_value()) return kExitTimeout;
    const Event& e = **event;
    if (uuid && e.uuid != *uuid) continue;
    const SeqObservation obs = gaps.Observe(e.uuid, e.seq);
    if (obs.kind == SeqObservation::kGap && !PrintLine(GapToJson(e.uuid, obs))) return kExitOk;
    if (!PrintLine(EventToJson(e))) return kExitOk;
    if (*count && ++printed >= **count) return kExitOk;
    deadline = absl::Now() + idle;
  }
}

}  // namespace
}  // namespace cvol::events

int main(int argc, char** argv) {
  // Nothing may escape as an exception: a surprise from a library is an
  // error exit, not an abort.
  try {
    return cvol::events::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "cvol-events: " << e.what() << "\n";
    return 1;
  }
}
