// clusterctl pool create | list | show
#include <cstdint>
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

// The target's limits (include/uapi/linux/dm-cvol.h): a non-zero multiple
// of 8 sectors, at most 2^30 sectors.
constexpr uint64_t kExtentAlignBytes = 4096;
constexpr uint64_t kMaxExtentBytes = (uint64_t{1} << 30) * 512;

absl::Status PoolCreate(const po::variables_map& vm, Context& ctx) {
  std::string pool = vm["pool"].as<std::string>();
  if (absl::Status s = control::ValidateName("pool", pool); !s.ok()) return s;
  json args = {{"pool", pool}};
  if (std::optional<std::string> text = OptionalArg(vm, "extent-size"); text.has_value()) {
    ASSIGN_OR_RETURN(uint64_t bytes, control::ParseSize(*text));
    if (bytes == 0 || bytes % kExtentAlignBytes != 0 || bytes > kMaxExtentBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("--extent-size ", *text, " must be a multiple of 4K between 4K and 512G"));
    }
    args["extent_size_bytes"] = bytes;
  }
  ASSIGN_OR_RETURN(json result, ctx.Call("pool.create", args));
  if (ctx.json_output()) {
    ctx.PrintJson(result);
    return absl::OkStatus();
  }
  ctx.out() << "Created pool " << Str(result, "name") << " with "
            << SizeField(result, "extent_size_bytes") << " extents, uuid "
            << Str(result, "uuid") << "\n"
            << "Add devices with: clusterctl pv create <device> --pool " << pool << "\n";
  return absl::OkStatus();
}

absl::Status PoolList(const po::variables_map&, Context& ctx) {
  ASSIGN_OR_RETURN(json result, ctx.Call("pool.list", json::object()));
  if (ctx.json_output()) {
    ctx.PrintJson(result);
    return absl::OkStatus();
  }
  PrintPoolTable(Array(result, "pools"), ctx.out());
  return absl::OkStatus();
}

absl::Status PoolShow(const po::variables_map& vm, Context& ctx) {
  std::string pool = vm["pool"].as<std::string>();
  if (absl::Status s = control::ValidateName("pool", pool); !s.ok()) return s;
  ASSIGN_OR_RETURN(json result, ctx.Call("pool.show", {{"pool", pool}}));
  if (ctx.json_output()) {
    ctx.PrintJson(result);
    return absl::OkStatus();
  }
  const json& p = result;
  FieldList fields;
  fields.Add("Name", Str(p, "name"));
  fields.Add("UUID", Str(p, "uuid"));
  fields.Add("Extent size", SizeField(p, "extent_size_bytes"));
  fields.Add("Size", absl::StrCat(SizeField(p, "total_bytes"), " (", Num(p, "total_extents"),
                                  " extents)"));
  fields.Add("Free", absl::StrCat(SizeField(p, "free_bytes"), " (", Num(p, "free_extents"),
                                  " extents)"));
  fields.Add("PVs", Str(p, "pv_count"));
  fields.Add("Volumes", Str(p, "volume_count"));
  fields.Print(ctx.out());
  ctx.out() << "\nPVs:\n";
  PrintPvTable(Array(p, "pvs"), ctx.out());
  ctx.out() << "\nVolumes:\n";
  PrintVolumeTable(Array(p, "volumes"), ctx.out());
  return absl::OkStatus();
}

}  // namespace

void AddPoolVerbs(std::vector<Verb>& verbs) {
  verbs.push_back(Verb{
      "pool", "create", "<pool> [--extent-size SIZE]", "create an empty pool",
      "The extent size is the unit of allocation and of moves: a multiple of 4K,\n"
      "4M by default. It cannot change later.",
      {"pool"},
      [](po::options_description& o) {
        o.add_options()("extent-size", po::value<std::string>()->value_name("SIZE"),
                        "extent size (default 4M)");
      },
      PoolCreate});
  verbs.push_back(Verb{"pool", "list", "", "list pools with their size and free space", "", {},
                       {}, PoolList});
  verbs.push_back(Verb{"pool", "show", "<pool>", "show a pool, its pvs and its volumes", "",
                       {"pool"}, {}, PoolShow});
}

}  // namespace cvol::clusterctl
