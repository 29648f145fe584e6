// The control protocol (docs/control-protocol.md) as cvold reads a
// clusterctl line and clusterctl reads cvold's: ParseRequest (then the
// arguments, read the way the daemon's handlers read them, names and
// sizes included), PeekRequestId, ParseReply. The first byte picks the
// side.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cvol/control/args.h"
#include "cvol/control/names.h"
#include "cvol/control/protocol.h"
#include "fuzz_input.h"

namespace {

namespace control = cvol::control;

// Every accessor of ArgReader over every member the request carries, and
// the values as names and sizes: what a handler does with a request.
void ReadArgs(const control::Request& request) {
  control::ArgReader reader(request.args);
  if (request.args.is_object()) {
    for (const auto& [name, value] : request.args.items()) {
      (void)value;
      (void)reader.OptionalString(name);
      (void)reader.OptionalUint(name);
      (void)reader.Bool(name, false);
      (void)reader.Raw(name);
      absl::StatusOr<std::string> text = reader.String(name);
      if (text.ok()) {
        (void)control::ParseVolumeName(*text);
        (void)control::ParseSize(*text);
        (void)control::ValidateName("pool", *text);
      }
    }
  }
  (void)reader.Uint("size_bytes");
  (void)reader.Finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cvol::fuzz::FuzzInput in(data, size);
  const unsigned which = in.Select(3);
  const std::string_view line = in.rest();
  switch (which) {
    case 0: {
      absl::StatusOr<control::Request> request = control::ParseRequest(line);
      if (!request.ok()) break;
      ReadArgs(*request);
      // What the daemon would echo must parse again.
      absl::StatusOr<control::Request> again = control::ParseRequest(control::EncodeRequest(*request));
      if (!again.ok() || again->id != request->id || again->command != request->command) {
        cvol::fuzz::Violated("ParseRequest(EncodeRequest(request)) differs");
      }
      break;
    }
    case 1:
      (void)control::PeekRequestId(line);
      break;
    case 2:
      (void)control::ParseReply(line);
      break;
  }
  return 0;
}
