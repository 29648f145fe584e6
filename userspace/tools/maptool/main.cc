// cvol-maptool: table lines, runs and messages for the cvol target,
// generated or converted, so that VM tests and benchmarks need no
// hand-written awk. Exit codes: 0 ok, 1 error, 2 usage error.
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cvol/decimal.h"
#include "cvol/dm_line.h"
#include "cvol/extent_map.h"
#include "cvol/layout.h"
#include "cvol/linear_equivalent.h"
#include "cvol/messages.h"
#include "cvol/run_codec.h"
#include "cvol/status.h"
#include "cvol/status_macros.h"
#include "cvol/table_line.h"
#include "linux/dm-cvol.h"
#include "map_input.h"

namespace cvol::maptool {
namespace {

namespace po = boost::program_options;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// What every subcommand shares: its option table, parsing, and the two
// ways of failing.
class Command {
 public:
  Command(std::string name, std::string synopsis, std::string description)
      : name_(std::move(name)),
        synopsis_(std::move(synopsis)),
        description_(std::move(description)),
        options_("Options") {
    options_.add_options()("help,h", "show this help");
  }

  po::options_description_easy_init AddOptions() { return options_.add_options(); }

  // Parses `args`; returns an exit code if the command should stop here
  // (after --help or a usage error).
  std::optional<int> Parse(const std::vector<std::string>& args) {
    try {
      po::store(po::command_line_parser(args).options(options_).run(), vm_);
      po::notify(vm_);
    } catch (const po::error& e) {
      return Usage(e.what());
    }
    if (vm_.count("help")) {
      std::cout << "Usage: cvol-maptool " << name_ << " " << synopsis_ << "\n\n"
                << description_ << "\n\n" << options_;
      return kExitOk;
    }
    return std::nullopt;
  }

  int Usage(absl::string_view message) const {
    std::cerr << "cvol-maptool " << name_ << ": " << message << "\n"
              << "Try 'cvol-maptool " << name_ << " --help'.\n";
    return kExitUsage;
  }

  int Fail(const absl::Status& status) const {
    std::cerr << "cvol-maptool " << name_ << ": " << status.message() << "\n";
    return kExitError;
  }

  bool Has(const char* option) const { return vm_.count(option) > 0; }
  std::string String(const char* option) const { return vm_[option].as<std::string>(); }
  std::vector<std::string> Strings(const char* option) const {
    return Has(option) ? vm_[option].as<std::vector<std::string>>()
                       : std::vector<std::string>{};
  }

  // Numbers are taken as strings and parsed strictly: Boost would accept
  // "-1" for an unsigned option and wrap it.
  absl::StatusOr<std::optional<uint64_t>> Number(const char* option) const {
    if (!Has(option)) return std::optional<uint64_t>();
    ASSIGN_OR_RETURN(uint64_t value, ParseDecimal(String(option), absl::StrCat("--", option)));
    return std::optional<uint64_t>(value);
  }

  absl::StatusOr<uint64_t> RequiredNumber(const char* option) const {
    ASSIGN_OR_RETURN(std::optional<uint64_t> value, Number(option));
    if (!value.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("--", option, " is required"));
    }
    return *value;
  }

 private:
  std::string name_;
  std::string synopsis_;
  std::string description_;
  po::options_description options_;
  po::variables_map vm_;
};

// "PATH:OFFSET", split at the last colon so that "major:minor:OFFSET"
// works; "-:OFFSET" is an empty slot.
absl::StatusOr<DeviceSlot> ParseDevOption(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dev \"", text, "\": expected PATH:OFFSET (OFFSET in sectors, e.g. /dev/vdb:2048)"));
  }
  ASSIGN_OR_RETURN(uint64_t offset,
                   ParseDecimal(absl::string_view(text).substr(colon + 1), "--dev offset"));
  DeviceSlot slot;
  if (text.substr(0, colon) != "-") slot.path = text.substr(0, colon);
  slot.offset = offset;
  return slot;
}

void AddLayoutOptions(Command& cmd) {
  cmd.AddOptions()
      ("extents", po::value<std::string>(), "virtual extents in the volume (required)")
      ("dev", po::value<std::vector<std::string>>(),
       "device slot PATH:OFFSET, repeatable, in slot order; PATH may be "
       "major:minor, '-' is an empty slot (at least one required)")
      ("layout", po::value<std::string>()->default_value("linear"),
       "linear | striped | random | shuffled")
      ("seed", po::value<std::string>()->default_value("1"), "seed for random and shuffled")
      ("dev-extents", po::value<std::string>(),
       "usable extents per device (default: extents / devices, rounded up)")
      ("unmapped-percent", po::value<std::string>()->default_value("0"),
       "percentage of virtual extents left unmapped, chosen from the seed");
}

struct GeneratedLayout {
  std::vector<DeviceSlot> devices;
  ExtentMap map;
};

// The layout the options describe. All errors are usage errors.
absl::StatusOr<GeneratedLayout> GenerateFromOptions(const Command& cmd) {
  GeneratedLayout out;
  const std::vector<std::string> devs = cmd.Strings("dev");
  if (devs.empty()) return absl::InvalidArgumentError("at least one --dev is required");
  if (devs.size() > CVOL_MAX_DEVS) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", CVOL_MAX_DEVS, " --dev"));
  }
  uint64_t usable = 0;
  for (const std::string& dev : devs) {
    ASSIGN_OR_RETURN(DeviceSlot slot, ParseDevOption(dev));
    usable += slot.is_empty() ? 0 : 1;
    out.devices.push_back(slot);
  }

  LayoutSpec spec;
  ASSIGN_OR_RETURN(LayoutKind kind, ParseLayoutKind(cmd.String("layout")));
  spec.kind = kind;
  ASSIGN_OR_RETURN(uint64_t extents, cmd.RequiredNumber("extents"));
  if (extents > CVOL_MAX_EXTENTS) {
    return absl::InvalidArgumentError(
        absl::StrCat("--extents ", extents, " exceeds the maximum of ", CVOL_MAX_EXTENTS));
  }
  spec.extents = extents;
  ASSIGN_OR_RETURN(std::optional<uint64_t> seed, cmd.Number("seed"));
  spec.seed = *seed;
  ASSIGN_OR_RETURN(std::optional<uint64_t> percent, cmd.Number("unmapped-percent"));
  if (*percent > 100) return absl::InvalidArgumentError("--unmapped-percent must be 0 to 100");
  spec.unmapped_percent = static_cast<uint32_t>(*percent);

  ASSIGN_OR_RETURN(std::optional<uint64_t> dev_extents, cmd.Number("dev-extents"));
  if (usable == 0 && spec.extents > 0 && spec.unmapped_percent < 100) {
    return absl::InvalidArgumentError("every --dev is an empty slot; nothing to map onto");
  }
  const uint64_t per_device = dev_extents.value_or(
      usable == 0 ? 0 : spec.extents / usable + (spec.extents % usable != 0 ? 1 : 0));
  if (per_device > CVOL_MAX_PEXT + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dev-extents exceeds the maximum of ", CVOL_MAX_PEXT + 1));
  }
  for (const DeviceSlot& slot : out.devices) {
    spec.device_extents.push_back(slot.is_empty() ? 0 : per_device);
  }
  ASSIGN_OR_RETURN(ExtentMap map, GenerateLayout(spec));
  out.map = std::move(map);
  return out;
}

void PrintRuns(const ExtentMap& map) {
  for (const Run& run : map.ToRuns()) std::cout << FormatRun(run) << "\n";
}

absl::StatusOr<MapInput> LoadMap(const std::string& path, std::optional<uint64_t> extents) {
  ASSIGN_OR_RETURN(std::string text, ReadInput(path));
  absl::StatusOr<MapInput> input = ParseMapInput(text, extents);
  if (!input.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path == "-" ? "stdin" : path, ": ", input.status().message()));
  }
  return input;
}

void AddInputOption(Command& cmd, const char* what) {
  cmd.AddOptions()
      ("input,i", po::value<std::string>()->default_value("-"),
       absl::StrCat(what, " ('-': stdin)").c_str())
      ("extents", po::value<std::string>(),
       "map size in extents (default: from the table's length, else the end of the last run)");
}

// ---------------------------------------------------------------------------

int RunTable(const std::vector<std::string>& args) {
  Command cmd("table", "--uuid U --extent-sectors N --extents E --dev PATH:OFFSET... [options]",
              "Prints a complete cvol table line \"<start> <len> cvol <params>\" with the\n"
              "generated layout as map_runs, ready for `dmsetup create --table`.");
  cmd.AddOptions()
      ("uuid", po::value<std::string>(), "volume uuid (required)")
      ("extent-sectors", po::value<std::string>(), "extent size in 512-byte sectors (required)");
  AddLayoutOptions(cmd);
  cmd.AddOptions()
      ("start", po::value<std::string>()->default_value("0"), "start sector of the line")
      ("len", po::value<std::string>(), "length in sectors (default: extents * extent-sectors)")
      ("map-gen", po::value<std::string>(), "add map_gen G")
      ("region-sectors", po::value<std::string>(), "add region_sectors N")
      ("freeze-timeout-ms", po::value<std::string>(), "add freeze_timeout_ms N")
      ("unmapped-zero", "add unmapped_zero")
      ("no-runs", "leave map_runs out (the volume keeps or starts with its live map)");
  if (std::optional<int> code = cmd.Parse(args)) return *code;

  if (!cmd.Has("uuid")) return cmd.Usage("--uuid is required");
  absl::StatusOr<GeneratedLayout> layout = GenerateFromOptions(cmd);
  if (!layout.ok()) return cmd.Usage(layout.status().message());

  TableLine table;
  table.vol_uuid = cmd.String("uuid");
  absl::StatusOr<uint64_t> extent_sectors = cmd.RequiredNumber("extent-sectors");
  if (!extent_sectors.ok()) return cmd.Usage(extent_sectors.status().message());
  table.extent_sectors = *extent_sectors;
  table.devices = layout->devices;
  if (!cmd.Has("no-runs")) table.map_runs = layout->map.ToRuns();
  for (auto [option, field] : {std::pair{"map-gen", &table.map_gen},
                               std::pair{"region-sectors", &table.region_sectors},
                               std::pair{"freeze-timeout-ms", &table.freeze_timeout_ms}}) {
    absl::StatusOr<std::optional<uint64_t>> value = cmd.Number(option);
    if (!value.ok()) return cmd.Usage(value.status().message());
    *field = *value;
  }
  table.unmapped_zero = cmd.Has("unmapped-zero");
  if (absl::Status s = table.Validate(); !s.ok()) return cmd.Usage(s.message());

  absl::StatusOr<std::optional<uint64_t>> start = cmd.Number("start");
  if (!start.ok()) return cmd.Usage(start.status().message());
  absl::StatusOr<std::optional<uint64_t>> len = cmd.Number("len");
  if (!len.ok()) return cmd.Usage(len.status().message());
  const uint64_t extents = layout->map.size();
  // extents <= CVOL_MAX_EXTENTS and extent_sectors <= 2^30 (checked above): no overflow.
  const uint64_t length = len->value_or(extents * table.extent_sectors);
  if (length == 0) return cmd.Usage("the length is 0; give --extents or --len above 0");
  std::cout << DmLine{**start, length, CVOL_TARGET_NAME, table.Format()}.Format() << "\n";
  return kExitOk;
}

int RunRuns(const std::vector<std::string>& args) {
  Command cmd("runs", "(--input FILE | --extents E --dev PATH:OFFSET... [layout options])",
              "Prints maximal runs <vext>:<dev>:<pext>:<count>, one per line: of the\n"
              "generated layout, or of the map read with --input (a table line, bare\n"
              "params, or runs).");
  AddLayoutOptions(cmd);
  cmd.AddOptions()("input,i", po::value<std::string>(), "read the map from FILE ('-': stdin)");
  if (std::optional<int> code = cmd.Parse(args)) return *code;

  if (cmd.Has("input")) {
    if (cmd.Has("dev")) return cmd.Usage("give either --input or --dev, not both");
    absl::StatusOr<std::optional<uint64_t>> extents = cmd.Number("extents");
    if (!extents.ok()) return cmd.Usage(extents.status().message());
    absl::StatusOr<MapInput> input = LoadMap(cmd.String("input"), *extents);
    if (!input.ok()) return cmd.Fail(input.status());
    PrintRuns(input->map);
    return kExitOk;
  }
  absl::StatusOr<GeneratedLayout> layout = GenerateFromOptions(cmd);
  if (!layout.ok()) return cmd.Usage(layout.status().message());
  PrintRuns(layout->map);
  return kExitOk;
}

int RunDiff(const std::vector<std::string>& args) {
  Command cmd("diff", "--from FILE --to FILE [--gen G | --items-only] [options]",
              "Prints the map_set messages that change the map in --from into the map in\n"
              "--to, one message per line, each within --max-bytes. Message k carries\n"
              "expect_gen G+k: each applied map_set advances the generation by one. With\n"
              "--items-only, prints just the items of each message, for a script that\n"
              "feeds the generation each response returns.");
  cmd.AddOptions()
      ("from", po::value<std::string>(), "current map: table line, params or runs ('-': stdin)")
      ("to", po::value<std::string>(), "wanted map, same forms")
      ("extents", po::value<std::string>(), "map size (default: the larger of the two)")
      ("gen", po::value<std::string>(),
       "expect_gen of the first message (default: --from's map_gen)")
      ("items-only", "print the items of each message without \"map_set <gen>\"")
      ("max-bytes", po::value<std::string>()->default_value(
          std::to_string(MapSetLimits::kDefaultMaxBytes)), "bound on each message's length")
      ("max-items", po::value<std::string>()->default_value("0"),
       "bound on the items per message (0: none)");
  if (std::optional<int> code = cmd.Parse(args)) return *code;

  if (!cmd.Has("from") || !cmd.Has("to")) return cmd.Usage("--from and --to are required");
  if (cmd.String("from") == "-" && cmd.String("to") == "-") {
    return cmd.Usage("--from and --to cannot both be stdin");
  }
  absl::StatusOr<std::optional<uint64_t>> gen = cmd.Number("gen");
  if (!gen.ok()) return cmd.Usage(gen.status().message());
  const bool items_only = cmd.Has("items-only");
  absl::StatusOr<std::optional<uint64_t>> extents = cmd.Number("extents");
  if (!extents.ok()) return cmd.Usage(extents.status().message());
  absl::StatusOr<std::optional<uint64_t>> max_bytes = cmd.Number("max-bytes");
  if (!max_bytes.ok()) return cmd.Usage(max_bytes.status().message());
  absl::StatusOr<std::optional<uint64_t>> max_items = cmd.Number("max-items");
  if (!max_items.ok()) return cmd.Usage(max_items.status().message());

  absl::StatusOr<std::string> from_text = ReadInput(cmd.String("from"));
  if (!from_text.ok()) return cmd.Fail(from_text.status());
  absl::StatusOr<std::string> to_text = ReadInput(cmd.String("to"));
  if (!to_text.ok()) return cmd.Fail(to_text.status());
  absl::StatusOr<MapInput> from = ParseMapInput(*from_text, *extents);
  if (!from.ok()) return cmd.Fail(from.status());
  absl::StatusOr<MapInput> to = ParseMapInput(*to_text, *extents);
  if (!to.ok()) return cmd.Fail(to.status());
  if (!extents->has_value() && from->map.size() != to->map.size()) {
    // Sizes inferred from runs differ: compare both at the larger size.
    const uint64_t size = std::max(from->map.size(), to->map.size());
    from = ParseMapInput(*from_text, size);
    to = ParseMapInput(*to_text, size);
    if (!from.ok()) return cmd.Fail(from.status());
    if (!to.ok()) return cmd.Fail(to.status());
  }

  // `dmsetup table` output carries the live generation: use it by default.
  if (!gen->has_value() && from->table.has_value()) *gen = from->table->map_gen;
  if (!gen->has_value() && !items_only) {
    return cmd.Usage("give --gen G or --items-only (--from has no map_gen)");
  }

  absl::StatusOr<std::vector<MapSetItem>> items = Diff(from->map, to->map);
  if (!items.ok()) return cmd.Fail(items.status());
  MapSetLimits limits;
  limits.max_bytes = **max_bytes;
  limits.max_items = **max_items;
  absl::StatusOr<std::vector<std::vector<MapSetItem>>> batches = SplitMapSet(*items, limits);
  if (!batches.ok()) return cmd.Usage(batches.status().message());
  uint64_t next_gen = gen->value_or(0);
  for (const std::vector<MapSetItem>& batch : *batches) {
    if (items_only) {
      std::vector<std::string> words;
      for (const MapSetItem& item : batch) words.push_back(FormatMapSetItem(item));
      std::cout << absl::StrJoin(words, " ") << "\n";
    } else {
      std::cout << FormatMapSet(next_gen++, batch) << "\n";
    }
  }
  return kExitOk;
}

int RunExpand(const std::vector<std::string>& args) {
  Command cmd("expand", "[--input FILE] [--extents E]",
              "Prints one line \"<vext> <dev> <pext>\" per mapped virtual extent, in vext\n"
              "order, for the map read from a table line, params or runs.");
  AddInputOption(cmd, "the map");
  if (std::optional<int> code = cmd.Parse(args)) return *code;
  absl::StatusOr<std::optional<uint64_t>> extents = cmd.Number("extents");
  if (!extents.ok()) return cmd.Usage(extents.status().message());
  absl::StatusOr<MapInput> input = LoadMap(cmd.String("input"), *extents);
  if (!input.ok()) return cmd.Fail(input.status());
  for (uint64_t vext = 0; vext < input->map.size(); ++vext) {
    if (std::optional<Location> loc = input->map.Get(vext)) {
      std::cout << vext << " " << loc->dev << " " << loc->pext << "\n";
    }
  }
  return kExitOk;
}

int RunLinearEquivalent(const std::vector<std::string>& args) {
  Command cmd("linear-equivalent", "[--input FILE]",
              "Reads one cvol table line \"<start> <len> cvol <params>\" and prints the\n"
              "dm table that addresses the same sectors with linear segments (one per\n"
              "run) and zero/error segments for unmapped extents.");
  cmd.AddOptions()("input,i", po::value<std::string>()->default_value("-"),
                   "the cvol table line ('-': stdin)");
  if (std::optional<int> code = cmd.Parse(args)) return *code;
  absl::StatusOr<std::string> text = ReadInput(cmd.String("input"));
  if (!text.ok()) return cmd.Fail(text.status());
  absl::StatusOr<DmLine> line = DmLine::Parse(*text);
  if (!line.ok()) return cmd.Fail(line.status());
  absl::StatusOr<std::vector<DmLine>> segments = LinearEquivalent(*line);
  if (!segments.ok()) return cmd.Fail(segments.status());
  for (const DmLine& segment : *segments) std::cout << segment.Format() << "\n";
  return kExitOk;
}

int RunCheck(const std::vector<std::string>& args) {
  Command cmd("check", "[--input FILE]",
              "Validates a cvol table line (with or without \"<start> <len> cvol\") as the\n"
              "kernel would and prints it in canonical form; exit 1 and the reason if it\n"
              "is invalid.");
  cmd.AddOptions()("input,i", po::value<std::string>()->default_value("-"),
                   "the table line ('-': stdin)");
  if (std::optional<int> code = cmd.Parse(args)) return *code;
  absl::StatusOr<std::string> text = ReadInput(cmd.String("input"));
  if (!text.ok()) return cmd.Fail(text.status());
  absl::StatusOr<MapInput> input = ParseMapInput(*text, std::nullopt);
  if (!input.ok()) return cmd.Fail(input.status());
  if (!input->table.has_value()) {
    return cmd.Fail(absl::InvalidArgumentError("expected a table line, got runs"));
  }
  if (input->dm_line.has_value()) {
    DmLine line = *input->dm_line;
    line.params = input->table->Format();
    std::cout << line.Format() << "\n";
  } else {
    std::cout << input->table->Format() << "\n";
  }
  return kExitOk;
}

int RunStatus(const std::vector<std::string>& args) {
  Command cmd("status", "[--input FILE]",
              "Parses a cvol INFO status (`dmsetup status` output, with or without\n"
              "\"<start> <len> cvol\") and prints map_gen=, mapped=, total=, health= lines.");
  cmd.AddOptions()("input,i", po::value<std::string>()->default_value("-"),
                   "the status line ('-': stdin)");
  if (std::optional<int> code = cmd.Parse(args)) return *code;
  absl::StatusOr<std::string> text = ReadInput(cmd.String("input"));
  if (!text.ok()) return cmd.Fail(text.status());
  std::string info = *text;
  if (absl::StatusOr<DmLine> line = DmLine::Parse(*text);
      line.ok() && line->target_type == CVOL_TARGET_NAME) {
    info = line->params;
  }
  absl::StatusOr<TargetStatus> status = TargetStatus::Parse(info);
  if (!status.ok()) return cmd.Fail(status.status());
  std::string health;
  for (DeviceHealth h : status->health) health.push_back(static_cast<char>(h));
  std::cout << "map_gen=" << status->map_gen << "\nmapped=" << status->mapped_extents
            << "\ntotal=" << status->total_extents << "\nhealth=" << health << "\n";
  if (!status->trailing_fields.empty()) {
    std::cout << "trailing=" << absl::StrJoin(status->trailing_fields, " ") << "\n";
  }
  return kExitOk;
}

struct Subcommand {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

constexpr Subcommand kSubcommands[] = {
    {"table", "generate a cvol table line with a layout", RunTable},
    {"runs", "print the runs of a generated layout or of a map", RunRuns},
    {"diff", "map_set messages that turn one map into another", RunDiff},
    {"expand", "one \"vext dev pext\" line per mapped extent", RunExpand},
    {"linear-equivalent", "the dm-linear table equal to a cvol table", RunLinearEquivalent},
    {"check", "validate a table line and print it canonically", RunCheck},
    {"status", "parse a cvol status line", RunStatus},
};

void PrintTopLevelHelp(std::ostream& os) {
  os << "Usage: cvol-maptool <command> [options]\n\nCommands:\n";
  for (const Subcommand& sub : kSubcommands) {
    os << "  " << sub.name << std::string(20 - std::string(sub.name).size(), ' ')
       << sub.summary << "\n";
  }
  os << "\n'cvol-maptool <command> --help' describes a command's options.\n"
        "Exit status: 0 ok, 1 error, 2 usage error.\n";
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    PrintTopLevelHelp(std::cerr);
    return kExitUsage;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    PrintTopLevelHelp(std::cout);
    return kExitOk;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const Subcommand& sub : kSubcommands) {
    if (name == sub.name) return sub.run(args);
  }
  std::cerr << "cvol-maptool: unknown command \"" << name << "\"\n"
            << "Try 'cvol-maptool --help'.\n";
  return kExitUsage;
}

}  // namespace
}  // namespace cvol::maptool

int main(int argc, char** argv) {
  // Nothing may escape as an exception: a surprise from a library is an
  // error exit, not an abort.
  try {
    return cvol::maptool::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "cvol-maptool: " << e.what() << "\n";
    return 1;
  }
}
