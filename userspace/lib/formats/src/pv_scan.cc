#include "cvol/pv_scan.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace cvol {
namespace {

namespace fs = std::filesystem;

// The first line of a sysfs attribute, without surrounding white space;
// nullopt if it does not exist or cannot be read.
std::optional<std::string> ReadAttribute(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  if (in.bad()) return std::nullopt;
  return std::string(absl::StripAsciiWhitespace(line));
}

bool StartsWithAny(absl::string_view text, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(), [text](const std::string& prefix) {
    return !prefix.empty() && absl::StartsWith(text, prefix);
  });
}

// The entries of a directory, sorted (readdir order is arbitrary, and the
// scan's output should not be); empty if it does not exist.
std::vector<std::string> ListDir(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class Scanner {
 public:
  explicit Scanner(const PvScanOptions& options) : options_(options) {}

  absl::StatusOr<PvScanResult> Run() {
    std::error_code ec;
    fs::directory_iterator probe(options_.sys_block_dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot list block devices in ", options_.sys_block_dir, ": ", ec.message()));
    }
    std::map<Uuid, std::vector<ScannedPv>> found;
    for (const std::string& name : ListDir(options_.sys_block_dir)) {
      const fs::path sys = fs::path(options_.sys_block_dir) / name;
      // sysfs spells a '/' in a device name as '!' (cciss!c0d0).
      const std::string path =
          (fs::path(options_.dev_dir) / absl::StrReplaceAll(name, {{"!", "/"}})).string();
      if (!fs::exists(sys / "dev", ec)) continue;  // not a block device entry
      if (std::optional<std::string> why = SkipReason(name, sys)) {
        result_.skipped.push_back({path, *why});
        continue;
      }
      absl::StatusOr<PvLabel> label = ReadPvLabel(path);
      if (label.ok()) {
        found[label->pv_uuid].push_back({path, *std::move(label)});
      } else if (label.status().code() == absl::StatusCode::kNotFound ||
                 label.status().code() == absl::StatusCode::kAlreadyExists) {
        // The skip already names the device.
        result_.skipped.push_back(
            {path, std::string(absl::StripPrefix(label.status().message(), path + ": "))});
      } else {
        result_.problems.push_back({path, label.status()});
      }
    }
    for (auto& [uuid, copies] : found) {
      if (copies.size() == 1) {
        result_.pvs.emplace(uuid, std::move(copies.front()));
        continue;
      }
      // Which one is the pv? A cloned disk or a multipath device whose map
      // is missing look the same from here: use neither, report all.
      std::vector<std::string> paths;
      for (const ScannedPv& copy : copies) paths.push_back(copy.path);
      for (const ScannedPv& copy : copies) {
        result_.problems.push_back(
            {copy.path,
             absl::FailedPreconditionError(absl::StrCat(
                 copy.path, ": pv ", FormatUuid(uuid), " is on ", copies.size(),
                 " devices (", absl::StrJoin(paths, ", "),
                 "): a cloned disk, or paths of a multipath device without its map; "
                 "none of them is used"))});
      }
    }
    return std::move(result_);
  }

 private:
  std::optional<std::string> SkipReason(const std::string& name, const fs::path& sys) const {
    std::error_code ec;
    if (absl::StartsWith(name, "ram") || absl::StartsWith(name, "zram")) {
      return "a RAM disk";
    }
    if (absl::StartsWith(name, "loop") && !fs::exists(sys / "loop" / "backing_file", ec)) {
      return "a loop device without a backing file";
    }
    if (ReadAttribute(sys / "size") == "0") return "empty (size 0: no medium?)";
    if (fs::exists(sys / "dm", ec)) {
      if (std::optional<std::string> why = DmSkipReason(sys)) return why;
    }
    for (const std::string& holder : ListDir(sys / "holders")) {
      const std::optional<std::string> uuid =
          ReadAttribute(fs::path(options_.sys_block_dir) / holder / "dm" / "uuid");
      if (uuid && absl::StartsWith(*uuid, "mpath-")) {
        return absl::StrCat("a path of the multipath device ", holder);
      }
    }
    return std::nullopt;
  }

  std::optional<std::string> DmSkipReason(const fs::path& sys) const {
    const std::string dm_name = ReadAttribute(sys / "dm" / "name").value_or("");
    const std::string dm_uuid = ReadAttribute(sys / "dm" / "uuid").value_or("");
    if (ReadAttribute(sys / "dm" / "suspended") == "1") {
      return absl::StrCat("dm device ", dm_name, " is suspended (a read would wait)");
    }
    if (StartsWithAny(dm_uuid, options_.skip_dm_uuid_prefixes) ||
        StartsWithAny(dm_name, options_.skip_dm_name_prefixes) ||
        (options_.is_cvol_volume && options_.is_cvol_volume(dm_name))) {
      return absl::StrCat("dm device ", dm_name, " is a cvol volume");
    }
    return std::nullopt;
  }

  const PvScanOptions& options_;
  PvScanResult result_;
};

}  // namespace

absl::StatusOr<PvScanResult> ScanPvs(const PvScanOptions& options) {
  return Scanner(options).Run();
}

}  // namespace cvol
