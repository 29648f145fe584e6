// What every clusterctl command shares: the verb table entry, the context
// a command runs in (options, output streams, the connection to cvold) and
// safe readers of the daemon's JSON.
#ifndef CVOL_CLUSTERCTL_COMMAND_H_
#define CVOL_CLUSTERCTL_COMMAND_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli.h"
#include "cvol/control/client.h"
#include "cvol/control/protocol.h"
#include "nlohmann/json.hpp"

namespace cvol::clusterctl {

namespace po = boost::program_options;
using nlohmann::json;

struct GlobalOptions {
  std::string socket_path = control::kDefaultSocketPath;
  bool json = false;
  absl::Duration timeout = absl::Seconds(60);
};

// The command's world: a connection opened on first use, the output, and
// how to print.
class Context {
 public:
  Context(GlobalOptions options, const Environment& env, std::ostream& out, std::ostream& err);

  // One request to cvold (connecting first if need be). `read_timeout`
  // overrides --timeout (events waits forever).
  absl::StatusOr<json> Call(const std::string& command, const json& args,
                            const std::function<void(const control::Reply&)>& on_interim = {},
                            std::optional<absl::Duration> read_timeout = std::nullopt);

  const GlobalOptions& options() const { return options_; }
  const Environment& env() const { return env_; }
  bool json_output() const { return options_.json; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }

  // --json output: the daemon's result, one line.
  void PrintJson(const json& value);

 private:
  GlobalOptions options_;
  Environment env_;
  std::ostream& out_;
  std::ostream& err_;
  std::optional<control::Client> client_;
};

// One "noun verb" command. Positional arguments are required, in order.
struct Verb {
  std::string noun;      // "volume"
  std::string verb;      // "create"; empty for `status` and `events`
  std::string synopsis;  // "<pool/vol> --size SIZE"
  std::string summary;   // one line for the noun's help
  std::string details;   // paragraphs for the verb's own help; may be empty
  std::vector<std::string> positionals;
  std::function<void(po::options_description&)> add_options;  // may be empty
  std::function<absl::Status(const po::variables_map&, Context&)> run;
};

void AddPvVerbs(std::vector<Verb>& verbs);
void AddPoolVerbs(std::vector<Verb>& verbs);
void AddVolumeVerbs(std::vector<Verb>& verbs);
void AddStatusVerb(std::vector<Verb>& verbs);
void AddEventsVerb(std::vector<Verb>& verbs);
void AddMemberVerbs(std::vector<Verb>& verbs);

// --- argument helpers -------------------------------------------------------

// The option's string value if given.
std::optional<std::string> OptionalArg(const po::variables_map& vm, const std::string& name);
// The value of a required option or positional; INVALID_ARGUMENT naming it.
absl::StatusOr<std::string> RequiredArg(const po::variables_map& vm, const std::string& name,
                                        const std::string& shown_as);
// A decimal integer >= 0 (no sign, no spaces), for --extent, --count.
absl::StatusOr<uint64_t> ParseCount(const std::string& text, const std::string& option);
// A pv is named by its name, its uuid (a name by the rules) or its device
// path (absolute).
absl::Status ValidatePvRef(const std::string& ref);

// --- reading the daemon's JSON ------------------------------------------------
// Missing or mistyped members read as "-" / 0 / false: human output shows
// what there is rather than failing on a field a newer daemon renamed.

std::string Str(const json& object, const char* key);
uint64_t Num(const json& object, const char* key);
bool Flag(const json& object, const char* key);
const json& Array(const json& object, const char* key);  // empty if absent
std::string SizeField(const json& object, const char* key);  // FormatSize or "-"

// Shared human renderings.
void PrintPvTable(const json& pvs, std::ostream& out);
void PrintVolumeTable(const json& volumes, std::ostream& out);
void PrintPoolTable(const json& pools, std::ostream& out);
void PrintMoveTable(const json& moves, std::ostream& out);

}  // namespace cvol::clusterctl

#endif  // CVOL_CLUSTERCTL_COMMAND_H_
