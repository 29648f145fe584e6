// Noun/verb dispatch, global options and help.
//
//   clusterctl [global options] <noun> <verb> [arguments] [options]
//
// Global options (--socket, --json, --timeout) are accepted before the noun
// and among the verb's options. Help goes to stdout with status 0; a bad
// command line prints what is wrong and the usage to stderr, status 2.
#include "cli.h"

#include <exception>
#include <iostream>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "command.h"
#include "cvol/control/protocol.h"

namespace cvol::clusterctl {
namespace {

constexpr char kProgram[] = "clusterctl";
constexpr char kVersion[] = "0.1.0";

struct Noun {
  const char* name;
  const char* summary;
};

constexpr Noun kNouns[] = {
    {"pv", "physical volumes: label a device for a pool, list, show, remove"},
    {"pool", "pools of extents: create, list, show"},
    {"volume", "volumes: create, list, show, resize, remove, move extents"},
    {"member", "cluster members: list with roles, states and links"},
    {"status", "the daemon, etcd, pools and moves in progress"},
    {"events", "stream the cluster's events until interrupted"},
};

const std::vector<Verb>& AllVerbs() {
  static const std::vector<Verb>* const kVerbs = [] {
    auto* verbs = new std::vector<Verb>;
    AddPvVerbs(*verbs);
    AddPoolVerbs(*verbs);
    AddVolumeVerbs(*verbs);
    AddStatusVerb(*verbs);
    AddEventsVerb(*verbs);
    AddMemberVerbs(*verbs);
    return verbs;
  }();
  return *kVerbs;
}

const Noun* FindNoun(const std::string& name) {
  for (const Noun& noun : kNouns) {
    if (name == noun.name) return &noun;
  }
  return nullptr;
}

// The verb of `noun`, or for a verbless noun (status, events) its only
// command when `verb` is empty.
const Verb* FindVerb(const std::string& noun, const std::string& verb) {
  for (const Verb& v : AllVerbs()) {
    if (v.noun == noun && v.verb == verb) return &v;
  }
  return nullptr;
}

bool IsVerbless(const std::string& noun) { return FindVerb(noun, "") != nullptr; }

std::string CommandName(const Verb& verb) {
  return verb.verb.empty() ? absl::StrCat(kProgram, " ", verb.noun)
                           : absl::StrCat(kProgram, " ", verb.noun, " ", verb.verb);
}

std::string Synopsis(const Verb& verb) {
  std::string synopsis = CommandName(verb);
  if (!verb.synopsis.empty()) absl::StrAppend(&synopsis, " ", verb.synopsis);
  return synopsis;
}

po::options_description GlobalOptionsDescription(std::string* socket, bool* json_output,
                                                 double* timeout_s) {
  po::options_description global("Global options");
  global.add_options()
      ("socket", po::value<std::string>(socket)->value_name("PATH"),
       "cvold's control socket (default /run/cvol/cvold.sock)")
      ("json", po::bool_switch(json_output),
       "print the daemon's result as JSON, one line, instead of tables")
      ("timeout", po::value<double>(timeout_s)->value_name("SECONDS"),
       "how long to wait for each reply from cvold (default 60; 0 waits forever)")
      ("help,h", "show help and exit");
  return global;
}

void PrintMainHelp(std::ostream& out) {
  out << "Usage: " << kProgram << " [--socket PATH] [--json] <noun> <verb> [arguments]\n\n"
      << "Manage cvol's physical volumes, pools and volumes through the local cvold.\n\n"
      << "Nouns:\n";
  for (const Noun& noun : kNouns) {
    out << "  " << noun.name << std::string(9 - std::string(noun.name).size(), ' ')
        << noun.summary << "\n";
  }
  out << "\nCommands:\n";
  for (const Verb& verb : AllVerbs()) out << "  " << Synopsis(verb) << "\n";
  out << "\nGlobal options:\n"
      << "  --socket PATH      cvold's control socket (default /run/cvol/cvold.sock)\n"
      << "  --json             print results as JSON (one line) instead of tables\n"
      << "  --timeout SECONDS  wait at most this long for each reply (default 60)\n"
      << "  --help, -h         show help; '" << kProgram << " help <noun> [<verb>]' too\n"
      << "  --version          print the version\n\n"
      << "Sizes take K M G T P E (powers of 1024) or s (512-byte sectors): 10G, 1.5T.\n"
      << "Exit status: 0 ok, 1 failed, 2 bad command line, 3 not found, 4 conflict,\n"
      << "5 cvold unreachable or etcd down, 6 permission denied.\n";
}

void PrintNounHelp(const Noun& noun, std::ostream& out) {
  if (IsVerbless(noun.name)) return;  // callers show the verb's help instead
  out << "Usage: " << kProgram << " " << noun.name << " <verb> [arguments]\n\n"
      << noun.summary << "\n\nVerbs:\n";
  for (const Verb& verb : AllVerbs()) {
    if (verb.noun != noun.name) continue;
    out << "  " << Synopsis(verb) << "\n      " << verb.summary << "\n";
  }
  out << "\nRun '" << kProgram << " " << noun.name << " <verb> --help' for a verb's options.\n";
}

po::options_description VerbOptions(const Verb& verb) {
  po::options_description options("Options");
  if (verb.add_options) verb.add_options(options);
  return options;
}

void PrintVerbHelp(const Verb& verb, std::ostream& out) {
  std::string socket;
  bool json_output = false;
  double timeout_s = 0;
  out << "Usage: " << Synopsis(verb) << "\n\n" << verb.summary << "\n";
  if (!verb.details.empty()) out << "\n" << verb.details << "\n";
  po::options_description options = VerbOptions(verb);
  if (!options.options().empty()) out << "\n" << options;
  out << "\n" << GlobalOptionsDescription(&socket, &json_output, &timeout_s);
}

int UsageError(const std::string& message, const std::string& help_hint, std::ostream& err) {
  err << kProgram << ": " << message << "\n"
      << "Try '" << help_hint << " --help'.\n";
  return control::kExitUsage;
}

int Fail(const absl::Status& status, std::ostream& err) {
  err << kProgram << ": " << status.message() << "\n";
  return control::ExitCodeFor(status);
}

// Splits off the leading global options: everything before the first word
// that is neither an option nor the value of --socket/--timeout.
size_t LeadingOptionCount(const std::vector<std::string>& args) {
  size_t i = 0;
  while (i < args.size() && args[i].size() > 1 && args[i][0] == '-') {
    if (args[i] == "--") return i;
    bool takes_value = args[i] == "--socket" || args[i] == "--timeout";
    i += takes_value ? 2 : 1;
  }
  return std::min(i, args.size());
}

absl::Status ApplyTimeout(const po::variables_map& vm, double timeout_s, GlobalOptions& global) {
  if (!vm.count("timeout")) return absl::OkStatus();
  if (!(timeout_s >= 0) || timeout_s > 1e7) {
    return absl::InvalidArgumentError("--timeout must be a number of seconds >= 0");
  }
  global.timeout = timeout_s == 0 ? absl::InfiniteDuration() : absl::Seconds(timeout_s);
  return absl::OkStatus();
}

int RunVerb(const Verb& verb, const std::vector<std::string>& args, GlobalOptions global,
            const Environment& env, std::ostream& out, std::ostream& err) {
  const std::string hint = CommandName(verb);
  std::string socket = global.socket_path;
  bool json_output = false;
  double timeout_s = 0;
  po::options_description visible = VerbOptions(verb);
  visible.add(GlobalOptionsDescription(&socket, &json_output, &timeout_s));
  po::options_description all;
  all.add(visible);
  po::positional_options_description positional;
  for (const std::string& name : verb.positionals) {
    all.add_options()(name.c_str(), po::value<std::string>());
    positional.add(name.c_str(), 1);
  }
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args)
                  .options(all)
                  .positional(positional)
                  .style(po::command_line_style::default_style &
                         ~po::command_line_style::allow_guessing)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::too_many_positional_options_error&) {
    return UsageError(absl::StrCat("too many arguments; usage: ", Synopsis(verb)), hint, err);
  } catch (const po::error& e) {
    return UsageError(e.what(), hint, err);
  }
  if (vm.count("help")) {
    PrintVerbHelp(verb, out);
    return control::kExitOk;
  }
  for (const std::string& name : verb.positionals) {
    if (!vm.count(name)) {
      return UsageError(absl::StrCat("missing ", name, "; usage: ", Synopsis(verb)), hint, err);
    }
  }
  global.socket_path = socket;
  global.json = global.json || json_output;
  if (absl::Status s = ApplyTimeout(vm, timeout_s, global); !s.ok()) {
    return UsageError(std::string(s.message()), hint, err);
  }
  Context context(global, env, out, err);
  absl::Status status;
  try {
    status = verb.run(vm, context);
  } catch (const nlohmann::json::exception& e) {
    // Safe accessors should make this unreachable; a reply of an
    // unexpected shape must still not abort the process.
    status = absl::InternalError(absl::StrCat("unexpected reply from cvold: ", e.what()));
  }
  if (!status.ok()) return Fail(status, err);
  return control::kExitOk;
}

int Dispatch(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
             const Environment& env) {
  GlobalOptions global;
  const std::string program_hint = kProgram;

  // Global options before the noun.
  size_t lead = LeadingOptionCount(args);
  std::vector<std::string> leading(args.begin(), args.begin() + lead);
  std::string socket = global.socket_path;
  bool json_output = false;
  double timeout_s = 0;
  po::options_description global_desc =
      GlobalOptionsDescription(&socket, &json_output, &timeout_s);
  global_desc.add_options()("version", "print the version and exit");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(leading)
                  .options(global_desc)
                  .style(po::command_line_style::default_style &
                         ~po::command_line_style::allow_guessing)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return UsageError(e.what(), program_hint, err);
  }
  if (vm.count("version")) {
    out << VersionString() << "\n";
    return control::kExitOk;
  }
  std::vector<std::string> rest(args.begin() + lead, args.end());
  if (!rest.empty() && rest[0] == "--") rest.erase(rest.begin());
  if (vm.count("help") && rest.empty()) {
    PrintMainHelp(out);
    return control::kExitOk;
  }
  if (rest.empty()) {
    PrintMainHelp(err);
    return control::kExitUsage;
  }
  global.socket_path = socket;
  global.json = json_output;
  if (absl::Status s = ApplyTimeout(vm, timeout_s, global); !s.ok()) {
    return UsageError(std::string(s.message()), program_hint, err);
  }

  // `help [noun [verb]]`, and `--help noun ...` the same way.
  bool help = vm.count("help") > 0;
  if (rest[0] == "help") {
    help = true;
    rest.erase(rest.begin());
    if (rest.empty()) {
      PrintMainHelp(out);
      return control::kExitOk;
    }
  }

  const Noun* noun = FindNoun(rest[0]);
  if (noun == nullptr) {
    return UsageError(absl::StrCat("unknown command '", rest[0],
                                   "'; the nouns are pv, pool, volume, status, events"),
                      program_hint, err);
  }
  const std::string noun_hint = absl::StrCat(kProgram, " ", noun->name);
  if (IsVerbless(noun->name)) {
    const Verb& verb = *FindVerb(noun->name, "");
    if (help) {
      PrintVerbHelp(verb, out);
      return control::kExitOk;
    }
    return RunVerb(verb, {rest.begin() + 1, rest.end()}, global, env, out, err);
  }
  if (rest.size() < 2 || rest[1] == "--help" || rest[1] == "-h") {
    if (help || rest.size() >= 2) {
      PrintNounHelp(*noun, out);
      return control::kExitOk;
    }
    err << kProgram << ": " << noun->name << ": missing verb\n";
    PrintNounHelp(*noun, err);
    return control::kExitUsage;
  }
  const Verb* verb = FindVerb(noun->name, rest[1]);
  if (verb == nullptr) {
    std::vector<std::string> verbs;
    for (const Verb& v : AllVerbs()) {
      if (v.noun == noun->name) verbs.push_back(v.verb);
    }
    return UsageError(absl::StrCat("unknown ", noun->name, " verb '", rest[1],
                                   "'; the verbs are ", absl::StrJoin(verbs, ", ")),
                      noun_hint, err);
  }
  if (help) {
    PrintVerbHelp(*verb, out);
    return control::kExitOk;
  }
  return RunVerb(*verb, {rest.begin() + 2, rest.end()}, global, env, out, err);
}

}  // namespace

std::string VersionString() {
  return absl::StrCat(kProgram, " ", kVersion, " (control protocol ",
                      control::kProtocolVersion, ")");
}

int RunClusterctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                  const Environment& env) {
  try {
    return Dispatch(args, out, err, env);
  } catch (const std::exception& e) {
    // Nothing should get here; if it does, exit like a failed operation
    // rather than with std::terminate's core dump.
    err << kProgram << ": internal error: " << e.what() << "\n";
    return control::kExitFailed;
  }
}

int RunClusterctl(int argc, char** argv, std::ostream& out, std::ostream& err,
                  const Environment& env) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return RunClusterctl(args, out, err, env);
}

}  // namespace cvol::clusterctl
