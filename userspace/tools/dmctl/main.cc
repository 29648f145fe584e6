// cvol-dmctl: a thin command line over cvol::DmClient.
//
//   cvol-dmctl create NAME (--table LINE... | --table-file F) [--uuid U]
//   cvol-dmctl reload NAME (--table LINE... | --table-file F)   (noflush)
//   cvol-dmctl message NAME [--sector S] [--] TEXT...
//   cvol-dmctl status NAME | table NAME | remove NAME
//
// Exit codes: 0 ok, 1 error (the reason on stderr), 2 usage error.
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cvol/decimal.h"
#include "cvol/dm_client.h"
#include "cvol/dm_line.h"
#include "cvol/status_macros.h"

namespace cvol::dmctl {
namespace {

namespace po = boost::program_options;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

constexpr char kTool[] = "cvol-dmctl";

struct Spec {
  const char* name;
  const char* synopsis;
  const char* summary;
  bool takes_table;
  bool takes_text;
};

constexpr Spec kCommands[] = {
    {"create", "NAME (--table LINE... | --table-file F) [--uuid U]",
     "create a device, load the table, resume it", true, false},
    {"reload", "NAME (--table LINE... | --table-file F)",
     "load a new table and swap it in with a noflush suspend", true, false},
    {"message", "NAME [--sector S] [--] TEXT...", "send a target message, print the response",
     false, true},
    {"status", "NAME", "print the status lines", false, false},
    {"table", "NAME", "print the table lines", false, false},
    {"remove", "NAME", "remove the device", false, false},
};

void PrintHelp(std::ostream& os) {
  os << "Usage: " << kTool << " <command> NAME [options]\n\nCommands:\n";
  for (const Spec& c : kCommands) {
    os << "  " << c.name << " " << c.synopsis << "\n      " << c.summary << "\n";
  }
  os << "\nTable lines are \"<start> <len> <target> <params>\", as dmsetup takes them;\n"
        "--table repeats for more lines, --table-file has one per line ('-': stdin).\n"
        "Exit status: 0 ok, 1 error, 2 usage error.\n";
}

int Usage(absl::string_view command, absl::string_view message) {
  std::cerr << kTool << (command.empty() ? "" : " ") << command << ": " << message << "\n"
            << "Try '" << kTool << " --help'.\n";
  return kExitUsage;
}

int Fail(absl::string_view command, const absl::Status& status) {
  std::cerr << kTool << " " << command << ": " << status.message() << "\n";
  return kExitError;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read table file \"", path, "\""));
  text << in.rdbuf();
  return text.str();
}

// Lines of a table: blank lines and '#' comments are skipped.
absl::StatusOr<std::vector<DmLine>> ParseTable(const std::vector<std::string>& lines) {
  std::vector<DmLine> table;
  for (const std::string& text : lines) {
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line[0] == '#') continue;
      ASSIGN_OR_RETURN(DmLine parsed, DmLine::Parse(line));
      table.push_back(std::move(parsed));
    }
  }
  if (table.empty()) return absl::InvalidArgumentError("the table has no lines");
  return table;
}

void PrintLines(const std::vector<DmLine>& lines) {
  for (const DmLine& line : lines) std::cout << line.Format() << "\n";
}

int Run(const Spec& spec, const std::vector<std::string>& args) {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help");
  if (spec.takes_table) {
    options.add_options()("table", po::value<std::vector<std::string>>(),
                          "a table line (repeatable)")(
        "table-file", po::value<std::string>(), "file with the table lines ('-': stdin)");
  }
  if (std::string(spec.name) == "create") {
    options.add_options()("uuid", po::value<std::string>(), "the dm uuid");
  }
  if (spec.takes_text) {
    options.add_options()("sector", po::value<std::string>()->default_value("0"),
                          "the sector the message goes to");
  }
  po::options_description hidden;
  hidden.add_options()("name", po::value<std::string>())(
      "text", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("name", 1);
  if (spec.takes_text) positional.add("text", -1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return Usage(spec.name, e.what());
  }
  if (vm.count("help")) {
    std::cout << "Usage: " << kTool << " " << spec.name << " " << spec.synopsis << "\n\n"
              << spec.summary << ".\n\n"
              << options;
    return kExitOk;
  }
  if (!vm.count("name")) return Usage(spec.name, "missing the device NAME");
  const std::string name = vm["name"].as<std::string>();

  DmClient dm;
  const std::string command = spec.name;
  std::vector<DmLine> table;
  if (spec.takes_table) {
    const bool inline_table = vm.count("table") > 0;
    if (inline_table == (vm.count("table-file") > 0)) {
      return Usage(spec.name, "give the table with either --table or --table-file");
    }
    std::vector<std::string> lines;
    if (inline_table) {
      lines = vm["table"].as<std::vector<std::string>>();
    } else {
      absl::StatusOr<std::string> text = ReadFile(vm["table-file"].as<std::string>());
      if (!text.ok()) return Fail(command, text.status());
      lines.push_back(*text);
    }
    absl::StatusOr<std::vector<DmLine>> parsed = ParseTable(lines);
    if (!parsed.ok()) return Fail(command, parsed.status());
    table = *std::move(parsed);
  }

  absl::Status status;
  if (command == "create") {
    const std::string uuid = vm.count("uuid") ? vm["uuid"].as<std::string>() : "";
    status = dm.Create(name, uuid, table);
  } else if (command == "reload") {
    status = dm.Reload(name, table);
  } else if (command == "message") {
    if (!vm.count("text")) return Usage(spec.name, "missing the message TEXT");
    absl::StatusOr<uint64_t> sector =
        ParseDecimal(vm["sector"].as<std::string>(), "--sector");
    if (!sector.ok()) return Usage(spec.name, sector.status().message());
    absl::StatusOr<std::string> response =
        dm.Message(name, *sector, absl::StrJoin(vm["text"].as<std::vector<std::string>>(), " "));
    if (!response.ok()) return Fail(command, response.status());
    // As dmsetup prints it: the response and a newline, nothing if empty.
    if (!response->empty()) {
      std::cout << *response << (response->back() == '\n' ? "" : "\n");
    }
  } else if (command == "status" || command == "table") {
    absl::StatusOr<std::vector<DmLine>> lines =
        command == "status" ? dm.Status(name) : dm.Table(name);
    if (!lines.ok()) return Fail(command, lines.status());
    PrintLines(*lines);
  } else if (command == "remove") {
    status = dm.Remove(name);
  }
  if (!status.ok()) return Fail(command, status);
  std::cout.flush();
  if (!std::cout) return Fail(command, absl::DataLossError("cannot write to stdout"));
  return kExitOk;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    PrintHelp(std::cerr);
    return kExitUsage;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    PrintHelp(std::cout);
    return kExitOk;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const Spec& spec : kCommands) {
    if (name == spec.name) return Run(spec, args);
  }
  return Usage("", absl::StrCat("unknown command \"", name, "\""));
}

}  // namespace
}  // namespace cvol::dmctl

int main(int argc, char** argv) {
  // Nothing may escape as an exception: a surprise from a library is an
  // error exit, not an abort.
  try {
    return cvol::dmctl::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "cvol-dmctl: " << e.what() << "\n";
    return 1;
  }
}
