#include "command.h"

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cvol/control/names.h"
#include "cvol/status_macros.h"
#include "table.h"

namespace cvol::clusterctl {

Context::Context(GlobalOptions options, const Environment& env, std::ostream& out,
                 std::ostream& err)
    : options_(std::move(options)), env_(env), out_(out), err_(err) {}

absl::StatusOr<json> Context::Call(const std::string& command, const json& args,
                                   const std::function<void(const control::Reply&)>& on_interim,
                                   std::optional<absl::Duration> read_timeout) {
  control::ClientOptions client_options;
  client_options.read_timeout = read_timeout.value_or(options_.timeout);
  // The timeout belongs to the connection, so a call with its own (events,
  // which waits forever) gets a fresh one.
  if (!client_.has_value() || read_timeout.has_value()) {
    ASSIGN_OR_RETURN(control::Client client,
                     control::Client::Connect(options_.socket_path, client_options));
    client_.emplace(std::move(client));
  }
  return client_->Call(command, args, on_interim);
}

void Context::PrintJson(const json& value) {
  out_ << value.dump(-1, ' ', false, json::error_handler_t::replace) << "\n" << std::flush;
}

std::optional<std::string> OptionalArg(const po::variables_map& vm, const std::string& name) {
  if (!vm.count(name)) return std::nullopt;
  return vm[name].as<std::string>();
}

absl::StatusOr<std::string> RequiredArg(const po::variables_map& vm, const std::string& name,
                                        const std::string& shown_as) {
  std::optional<std::string> value = OptionalArg(vm, name);
  if (!value.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("missing ", shown_as));
  }
  return *value;
}

absl::StatusOr<uint64_t> ParseCount(const std::string& text, const std::string& option) {
  uint64_t value = 0;
  bool all_digits = !text.empty();
  for (char c : text) all_digits = all_digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (!all_digits || !absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(option, " must be a whole number >= 0, not '", text, "'"));
  }
  return value;
}

absl::Status ValidatePvRef(const std::string& ref) {
  if (!ref.empty() && ref.front() == '/') return absl::OkStatus();
  return control::ValidateName("pv", ref);
}

std::string Str(const json& object, const char* key) {
  if (!object.is_object()) return "-";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>();
  return it->dump(-1, ' ', false, json::error_handler_t::replace);
}

uint64_t Num(const json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  if (it == object.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer()) return static_cast<uint64_t>(std::max<int64_t>(0, it->get<int64_t>()));
  if (it->is_number_float()) return static_cast<uint64_t>(std::max(0.0, it->get<double>()));
  return 0;
}

bool Flag(const json& object, const char* key) {
  if (!object.is_object()) return false;
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

const json& Array(const json& object, const char* key) {
  static const json* const kEmpty = new json(json::array());
  if (!object.is_object()) return *kEmpty;
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return *kEmpty;
  return *it;
}

std::string SizeField(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object.at(key).is_number()) return "-";
  return control::FormatSize(Num(object, key));
}

namespace {

using Align = Table::Align;

std::string PvExtent(const json& place) {
  if (!place.is_object()) return "-";
  return absl::StrCat(Str(place, "pv"), ":", Num(place, "pext"));
}

}  // namespace

void PrintPvTable(const json& pvs, std::ostream& out) {
  if (pvs.empty()) {
    out << "(no pvs)\n";
    return;
  }
  Table table({{"NAME"}, {"POOL"}, {"SLOT", Align::kRight}, {"PATH"}, {"SIZE", Align::kRight},
               {"EXTENTS", Align::kRight}, {"FREE", Align::kRight}, {"UUID"}});
  for (const json& pv : pvs) {
    table.AddRow({Str(pv, "name"), Str(pv, "pool"), Str(pv, "slot"),
                  pv.is_object() && pv.contains("path") && pv["path"].is_string()
                      ? pv["path"].get<std::string>()
                      : "(not found)",
                  SizeField(pv, "size_bytes"), Str(pv, "extents"), Str(pv, "free_extents"),
                  Str(pv, "uuid")});
  }
  table.Print(out);
}

void PrintVolumeTable(const json& volumes, std::ostream& out) {
  if (volumes.empty()) {
    out << "(no volumes)\n";
    return;
  }
  Table table({{"NAME"}, {"SIZE", Align::kRight}, {"EXTENTS", Align::kRight}, {"ACTIVE"},
               {"MOVES", Align::kRight}, {"DEVICE"}});
  for (const json& volume : volumes) {
    table.AddRow({Str(volume, "name"), SizeField(volume, "size_bytes"), Str(volume, "extents"),
                  Flag(volume, "active") ? "yes" : "no",
                  absl::StrCat(Array(volume, "moves").size()), Str(volume, "device")});
  }
  table.Print(out);
}

void PrintPoolTable(const json& pools, std::ostream& out) {
  if (pools.empty()) {
    out << "(no pools)\n";
    return;
  }
  Table table({{"NAME"}, {"EXTENT", Align::kRight}, {"SIZE", Align::kRight},
               {"FREE", Align::kRight}, {"USED", Align::kRight}, {"PVS", Align::kRight},
               {"VOLUMES", Align::kRight}});
  for (const json& pool : pools) {
    uint64_t total = Num(pool, "total_extents");
    uint64_t free = Num(pool, "free_extents");
    std::string used = total == 0 ? "-"
                                  : absl::StrCat((total - std::min(free, total)) * 100 / total, "%");
    table.AddRow({Str(pool, "name"), SizeField(pool, "extent_size_bytes"),
                  SizeField(pool, "total_bytes"), SizeField(pool, "free_bytes"), used,
                  Str(pool, "pv_count"), Str(pool, "volume_count")});
  }
  table.Print(out);
}

void PrintMoveTable(const json& moves, std::ostream& out) {
  if (moves.empty()) {
    out << "(no moves)\n";
    return;
  }
  Table table({{"VOLUME"}, {"VEXT", Align::kRight}, {"FROM"}, {"TO"}, {"PHASE"},
               {"COPIED", Align::kRight}, {"ERROR"}});
  for (const json& move : moves) {
    uint64_t regions = Num(move, "regions");
    uint64_t copied = Num(move, "copied_regions");
    std::string progress =
        regions == 0 ? "-"
                     : absl::StrCat(copied, "/", regions, " (",
                                    std::min<uint64_t>(copied, regions) * 100 / regions, "%)");
    table.AddRow({Str(move, "volume"), Str(move, "vext"),
                  PvExtent(move.is_object() ? move.value("src", json()) : json()),
                  PvExtent(move.is_object() ? move.value("dst", json()) : json()),
                  Str(move, "phase"), progress,
                  move.is_object() && move.contains("error") ? Str(move, "error") : ""});
  }
  table.Print(out);
}

}  // namespace cvol::clusterctl
