// clusterctl volume create | list | show | resize | remove | move
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "command.h"
#include "cvol/control/names.h"
#include "cvol/status_macros.h"
#include "progress_bar.h"
#include "table.h"

namespace cvol::clusterctl {
namespace {

absl::StatusOr<control::VolumeName> VolumeArg(const po::variables_map& vm) {
  return control::ParseVolumeName(vm["volume"].as<std::string>());
}

absl::StatusOr<uint64_t> PositiveSize(const std::string& text) {
  ASSIGN_OR_RETURN(uint64_t bytes, control::ParseSize(text));
  if (bytes == 0) return absl::InvalidArgumentError("--size must be more than 0");
  return bytes;
}

void PrintVolume(const json& v, std::ostream& out) {
  FieldList fields;
  fields.Add("Name", Str(v, "name"));
  fields.Add("UUID", Str(v, "uuid"));
  fields.Add("Size", absl::StrCat(SizeField(v, "size_bytes"), " (", Num(v, "extents"),
                                  " extents)"));
  fields.Add("Device", Str(v, "device"));
  fields.Add("Active", Flag(v, "active") ? "yes" : "no");
  fields.Add("Generation", Str(v, "generation"));
  fields.Print(out);
  out << "\nExtent map:\n";
  const json& runs = Array(v, "runs");
  if (runs.empty()) {
    out << "(empty)\n";
  } else {
    Table table({{"VEXT", Table::Align::kRight},
                 {"COUNT", Table::Align::kRight},
                 {"PV"},
                 {"PEXT", Table::Align::kRight}});
    for (const json& run : runs) {
      table.AddRow({Str(run, "vext"), Str(run, "count"), Str(run, "pv"), Str(run, "pext")});
    }
    table.Print(out);
  }
  const json& moves = Array(v, "moves");
  if (!moves.empty()) {
    out << "\nMoves:\n";
    PrintMoveTable(moves, out);
  }
}

absl::Status VolumeCreate(const po::variables_map& vm, Context& ctx) {
  ASSIGN_OR_RETURN(control::VolumeName name, VolumeArg(vm));
  ASSIGN_OR_RETURN(std::string size_text, RequiredArg(vm, "size", "--size SIZE"));
  ASSIGN_OR_RETURN(uint64_t size, PositiveSize(size_text));
  ASSIGN_OR_RETURN(json volume,
                   ctx.Call("volume.create", {{"volume", name.full()}, {"size_bytes", size}}));
  if (ctx.json_output()) {
    ctx.PrintJson(volume);
    return absl::OkStatus();
  }
  ctx.out() << "Created volume " << Str(volume, "name") << ": "
            << SizeField(volume, "size_bytes") << " at " << Str(volume, "device") << "\n";
  return absl::OkStatus();
}

absl::Status VolumeList(const po::variables_map& vm, Context& ctx) {
  json args = json::object();
  if (std::optional<std::string> pool = OptionalArg(vm, "pool"); pool.has_value()) {
    if (absl::Status s = control::ValidateName("pool", *pool); !s.ok()) return s;
    args["pool"] = *pool;
  }
  ASSIGN_OR_RETURN(json result, ctx.Call("volume.list", args));
  if (ctx.json_output()) {
    ctx.PrintJson(result);
    return absl::OkStatus();
  }
  PrintVolumeTable(Array(result, "volumes"), ctx.out());
  return absl::OkStatus();
}

absl::Status VolumeShow(const po::variables_map& vm, Context& ctx) {
  ASSIGN_OR_RETURN(control::VolumeName name, VolumeArg(vm));
  ASSIGN_OR_RETURN(json volume, ctx.Call("volume.show", {{"volume", name.full()}}));
  if (ctx.json_output()) {
    ctx.PrintJson(volume);
    return absl::OkStatus();
  }
  PrintVolume(volume, ctx.out());
  return absl::OkStatus();
}

absl::Status VolumeResize(const po::variables_map& vm, Context& ctx) {
  ASSIGN_OR_RETURN(control::VolumeName name, VolumeArg(vm));
  ASSIGN_OR_RETURN(std::string size_text, RequiredArg(vm, "size", "--size SIZE"));
  if (!size_text.empty() && size_text.front() == '-') {
    return absl::InvalidArgumentError("volumes cannot shrink; --size takes SIZE or +SIZE");
  }
  bool grow_by = !size_text.empty() && size_text.front() == '+';
  ASSIGN_OR_RETURN(uint64_t size, PositiveSize(grow_by ? size_text.substr(1) : size_text));

  uint64_t new_size = size;
  if (grow_by) {
    // +SIZE is relative to the size cvold has now; a concurrent resize in
    // between is the daemon's to refuse or apply, as with any absolute size.
    ASSIGN_OR_RETURN(json current, ctx.Call("volume.show", {{"volume", name.full()}}));
    uint64_t current_size = Num(current, "size_bytes");
    if (current_size > UINT64_MAX - size) {
      return absl::InvalidArgumentError(absl::StrCat("--size ", size_text, " on ",
                                                     control::FormatSize(current_size),
                                                     " overflows"));
    }
    new_size = current_size + size;
  }
  ASSIGN_OR_RETURN(json volume,
                   ctx.Call("volume.resize", {{"volume", name.full()}, {"size_bytes", new_size}}));
  if (ctx.json_output()) {
    ctx.PrintJson(volume);
    return absl::OkStatus();
  }
  ctx.out() << "Resized volume " << Str(volume, "name") << " to "
            << SizeField(volume, "size_bytes") << "\n";
  return absl::OkStatus();
}

absl::Status VolumeRemove(const po::variables_map& vm, Context& ctx) {
  ASSIGN_OR_RETURN(control::VolumeName name, VolumeArg(vm));
  ASSIGN_OR_RETURN(json result, ctx.Call("volume.remove", {{"volume", name.full()}}));
  if (ctx.json_output()) {
    ctx.PrintJson(result);
    return absl::OkStatus();
  }
  ctx.out() << "Removed volume " << name.full() << "\n";
  return absl::OkStatus();
}

// The moves of a report, for the progress printer.
std::vector<MoveProgress> MovesOf(const json& report) {
  std::vector<MoveProgress> moves;
  for (const json& move : Array(report, "moves")) {
    moves.push_back(MoveProgress{Num(move, "vext"), Str(move, "phase"), Num(move, "copied_regions"),
                                 Num(move, "regions"),
                                 move.is_object() && move.contains("error") ? Str(move, "error")
                                                                            : ""});
  }
  return moves;
}

// OK unless a move ended badly; then the first one's error.
absl::Status MoveOutcome(const json& moves) {
  for (const json& move : moves) {
    std::string phase = Str(move, "phase");
    if (phase == "failed" || phase == "rolled_back") {
      std::string why = move.is_object() && move.contains("error") ? Str(move, "error") : phase;
      return absl::UnknownError(absl::StrCat("move of extent ", Str(move, "vext"), " of ",
                                             Str(move, "volume"), " ",
                                             phase == "failed" ? "failed" : "was rolled back",
                                             ": ", why));
    }
  }
  return absl::OkStatus();
}

absl::Status VolumeMove(const po::variables_map& vm, Context& ctx) {
  ASSIGN_OR_RETURN(control::VolumeName name, VolumeArg(vm));
  ASSIGN_OR_RETURN(std::string extent_text, RequiredArg(vm, "extent", "--extent N"));
  ASSIGN_OR_RETURN(uint64_t vext, ParseCount(extent_text, "--extent"));
  json args = {{"volume", name.full()}, {"vext", vext}};
  if (std::optional<std::string> text = OptionalArg(vm, "count"); text.has_value()) {
    ASSIGN_OR_RETURN(uint64_t count, ParseCount(*text, "--count"));
    if (count == 0) return absl::InvalidArgumentError("--count must be at least 1");
    args["count"] = count;
  }
  if (std::optional<std::string> to_pv = OptionalArg(vm, "to-pv"); to_pv.has_value()) {
    if (absl::Status s = ValidatePvRef(*to_pv); !s.ok()) return s;
    args["to_pv"] = *to_pv;
  }
  bool wait = vm["wait"].as<bool>();
  if (wait) args["wait"] = true;

  // The bar counts bytes, so it needs the extent size: the volume's size
  // over its extent count. Off a terminal the progress is plain lines, one
  // per change of a move's state.
  const bool show_progress = wait && !ctx.json_output();
  const bool is_tty = ctx.env().out_is_tty;
  uint64_t extent_bytes = 0;
  if (show_progress && is_tty) {
    ASSIGN_OR_RETURN(json volume, ctx.Call("volume.show", {{"volume", name.full()}}));
    uint64_t extents = Num(volume, "extents");
    extent_bytes = extents == 0 ? 0 : Num(volume, "size_bytes") / extents;
  }
  std::unique_ptr<ProgressPrinter> printer = MakeProgressPrinter(
      ctx.out(), is_tty, ctx.env().terminal_width - (is_tty ? 1 : 0), extent_bytes);
  auto on_progress = [&](const control::Reply& reply) {
    if (!show_progress || reply.kind != control::Reply::kProgress) return;
    printer->Update(MovesOf(reply.body), absl::Now());
  };
  absl::StatusOr<json> result = ctx.Call("volume.move", args, on_progress);
  // The final result says how each move ended ("done" and the like).
  if (show_progress && result.ok()) printer->Update(MovesOf(*result), absl::Now());
  printer->Finish();
  if (!result.ok()) return result.status();
  const json& moves = Array(*result, "moves");
  if (ctx.json_output()) {
    ctx.PrintJson(*result);
    return wait ? MoveOutcome(moves) : absl::OkStatus();
  }
  if (wait) {
    PrintMoveTable(moves, ctx.out());
    if (absl::Status s = MoveOutcome(moves); !s.ok()) return s;
    ctx.out() << "Moved " << moves.size() << (moves.size() == 1 ? " extent" : " extents")
              << " of " << name.full() << "\n";
    return absl::OkStatus();
  }
  ctx.out() << "Started " << moves.size() << (moves.size() == 1 ? " move" : " moves") << " of "
            << name.full() << "; follow with: clusterctl status\n";
  PrintMoveTable(moves, ctx.out());
  return absl::OkStatus();
}

void SizeOption(po::options_description& o, const char* help) {
  o.add_options()("size", po::value<std::string>()->value_name("SIZE"), help);
}

}  // namespace

void AddVolumeVerbs(std::vector<Verb>& verbs) {
  verbs.push_back(Verb{
      "volume", "create", "<pool/vol> --size SIZE", "create and activate a volume",
      "The device appears as /dev/mapper/<pool>-<vol>, with a '-' inside either\n"
      "name doubled.",
      {"volume"},
      [](po::options_description& o) { SizeOption(o, "the volume's size: 10G, 512M, 1.5T"); },
      VolumeCreate});
  verbs.push_back(Verb{"volume", "list", "[--pool POOL]", "list volumes", "", {},
                       [](po::options_description& o) {
                         o.add_options()("pool", po::value<std::string>()->value_name("POOL"),
                                         "only this pool's volumes");
                       },
                       VolumeList});
  verbs.push_back(Verb{"volume", "show", "<pool/vol>",
                       "show a volume, its extent map and moves in progress", "", {"volume"}, {},
                       VolumeShow});
  verbs.push_back(Verb{
      "volume", "resize", "<pool/vol> --size [+]SIZE", "grow a volume online",
      "--size SIZE sets the new size; --size +SIZE grows by SIZE. Shrinking is\n"
      "refused.",
      {"volume"},
      [](po::options_description& o) { SizeOption(o, "the new size, or +SIZE to grow by SIZE"); },
      VolumeResize});
  verbs.push_back(Verb{"volume", "remove", "<pool/vol>",
                       "remove a volume and free its extents (refused while it is open)", "",
                       {"volume"}, {}, VolumeRemove});
  verbs.push_back(Verb{
      "volume", "move",
      "<pool/vol> --extent N [--count C] [--to-pv PV] [--wait]",
      "move volume extents to another place in the pool, online",
      "Moves extents N to N+C-1 of the volume while it stays in use. Without\n"
      "--to-pv cvold picks the destination. --wait follows the moves until\n"
      "every one has ended, and exits 1 if one failed: a progress bar on a\n"
      "terminal, otherwise a line each time a move's state changes\n"
      "(\"extent 4: copying 3/8\", ... \"extent 4: done\").",
      {"volume"},
      [](po::options_description& o) {
        o.add_options()("extent", po::value<std::string>()->value_name("N"),
                        "the first volume extent to move (required)")(
            "count", po::value<std::string>()->value_name("C"), "how many extents (default 1)")(
            "to-pv", po::value<std::string>()->value_name("PV"), "the destination pv")(
            "wait", po::bool_switch(), "wait for the moves to end, showing their progress");
      },
      VolumeMove});
}

}  // namespace cvol::clusterctl
