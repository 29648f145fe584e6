// clusterctl pv create | list | show | remove
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "command.h"
#include "cvol/control/names.h"
#include "cvol/status_macros.h"
#include "table.h"

namespace cvol::clusterctl {
namespace {

absl::Status PvCreate(const po::variables_map& vm, Context& ctx) {
  std::string device = vm["device"].as<std::string>();
  if (device.empty() || device.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("device '", device, "' must be an absolute path, as /dev/sdb"));
  }
  ASSIGN_OR_RETURN(std::string pool, RequiredArg(vm, "pool", "--pool POOL"));
  if (absl::Status s = control::ValidateName("pool", pool); !s.ok()) return s;
  json args = {{"device", device}, {"pool", pool}};
  if (std::optional<std::string> name = OptionalArg(vm, "name"); name.has_value()) {
    if (absl::Status s = control::ValidateName("pv", *name); !s.ok()) return s;
    args["name"] = *name;
  }
  if (vm["force"].as<bool>()) args["force"] = true;

  ASSIGN_OR_RETURN(json pv, ctx.Call("pv.create", args));
  if (ctx.json_output()) {
    ctx.PrintJson(pv);
    return absl::OkStatus();
  }
  ctx.out() << "Created pv " << Str(pv, "name") << " on " << device << " in pool " << pool
            << ": " << Num(pv, "extents") << " extents (" << SizeField(pv, "size_bytes")
            << "), uuid " << Str(pv, "uuid") << "\n";
  return absl::OkStatus();
}

absl::Status PvList(const po::variables_map& vm, Context& ctx) {
  json args = json::object();
  if (std::optional<std::string> pool = OptionalArg(vm, "pool"); pool.has_value()) {
    if (absl::Status s = control::ValidateName("pool", *pool); !s.ok()) return s;
    args["pool"] = *pool;
  }
  ASSIGN_OR_RETURN(json result, ctx.Call("pv.list", args));
  if (ctx.json_output()) {
    ctx.PrintJson(result);
    return absl::OkStatus();
  }
  PrintPvTable(Array(result, "pvs"), ctx.out());
  return absl::OkStatus();
}

absl::Status PvShow(const po::variables_map& vm, Context& ctx) {
  std::string ref = vm["pv"].as<std::string>();
  if (absl::Status s = ValidatePvRef(ref); !s.ok()) return s;
  ASSIGN_OR_RETURN(json pv, ctx.Call("pv.show", {{"pv", ref}}));
  if (ctx.json_output()) {
    ctx.PrintJson(pv);
    return absl::OkStatus();
  }
  FieldList fields;
  fields.Add("Name", Str(pv, "name"));
  fields.Add("UUID", Str(pv, "uuid"));
  fields.Add("Pool", Str(pv, "pool"));
  fields.Add("Slot", Str(pv, "slot"));
  fields.Add("Path", Str(pv, "path") == "-" ? "(not found on this host)" : Str(pv, "path"));
  fields.Add("Size", SizeField(pv, "size_bytes"));
  fields.Add("Data offset", SizeField(pv, "data_offset_bytes"));
  fields.Add("Extents", absl::StrCat(Num(pv, "extents"), " (", Num(pv, "free_extents"),
                                     " free)"));
  fields.Print(ctx.out());
  const json& segments = Array(pv, "segments");
  ctx.out() << "\nSegments:\n";
  if (segments.empty()) {
    ctx.out() << "(none)\n";
    return absl::OkStatus();
  }
  Table table({{"PEXT", Table::Align::kRight},
               {"COUNT", Table::Align::kRight},
               {"VOLUME"},
               {"VEXT", Table::Align::kRight}});
  for (const json& segment : segments) {
    table.AddRow({Str(segment, "pext"), Str(segment, "count"), Str(segment, "volume"),
                  Str(segment, "vext")});
  }
  table.Print(ctx.out());
  return absl::OkStatus();
}

absl::Status PvRemove(const po::variables_map& vm, Context& ctx) {
  std::string ref = vm["pv"].as<std::string>();
  if (absl::Status s = ValidatePvRef(ref); !s.ok()) return s;
  json args = {{"pv", ref}};
  if (vm["force"].as<bool>()) args["force"] = true;
  ASSIGN_OR_RETURN(json result, ctx.Call("pv.remove", args));
  if (ctx.json_output()) {
    ctx.PrintJson(result);
    return absl::OkStatus();
  }
  ctx.out() << "Removed pv " << ref << " (label wiped)\n";
  return absl::OkStatus();
}

}  // namespace

void AddPvVerbs(std::vector<Verb>& verbs) {
  verbs.push_back(Verb{
      "pv", "create", "<device> --pool POOL [--name NAME] [--force]",
      "label a block device as a physical volume of a pool",
      "The device must not carry another signature (a file system, LVM, swap)\n"
      "unless --force is given. Its name defaults to one cvold chooses.",
      {"device"},
      [](po::options_description& o) {
        o.add_options()("pool", po::value<std::string>()->value_name("POOL"),
                        "the pool the pv joins (required)")(
            "name", po::value<std::string>()->value_name("NAME"), "the pv's name")(
            "force", po::bool_switch(), "overwrite a foreign signature on the device");
      },
      PvCreate});
  verbs.push_back(Verb{"pv", "list", "[--pool POOL]", "list physical volumes", "", {},
                       [](po::options_description& o) {
                         o.add_options()("pool", po::value<std::string>()->value_name("POOL"),
                                         "only this pool's pvs");
                       },
                       PvList});
  verbs.push_back(Verb{"pv", "show", "<pv>",
                       "show a pv and which volume extents it holds",
                       "A pv is named by its name, its uuid or its device path.",
                       {"pv"},
                       {},
                       PvShow});
  verbs.push_back(Verb{
      "pv", "remove", "<pv> [--force]", "remove an unused pv from its pool and wipe its label",
      "A pv that holds volume extents is refused; move them off first\n"
      "(clusterctl volume move). --force removes a pv whose device is missing.",
      {"pv"},
      [](po::options_description& o) {
        o.add_options()("force", po::bool_switch(), "remove even if the device is not found");
      },
      PvRemove});
}

}  // namespace cvol::clusterctl
