#include "cvol/control/names.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl_view.h"

namespace cvol::control {
namespace {

using internal::Av;

bool IsNameStart(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool IsNameChar(char c) { return IsNameStart(c) || c == '.' || c == '+' || c == '-'; }

// Quotes user text for a message, escaping anything unprintable so that a
// terminal shows what was typed.
std::string Quote(std::string_view text) { return absl::StrCat("'", absl::CHexEscape(Av(text)), "'"); }

constexpr char kNameRule[] =
    "1 to 63 characters: letters, digits and '_', then also '.', '+' and '-'";

using uint128 = unsigned __int128;
constexpr uint128 kMaxUint64 = UINT64_MAX;

}  // namespace

absl::Status ValidateName(std::string_view kind, std::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Av(kind), " name is empty; use ", kNameRule));
  }
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(Av(kind), " name ", Quote(name), " is ",
                                                   name.size(), " characters; use ", kNameRule));
  }
  if (!IsNameStart(name.front())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid ", Av(kind), " name ", Quote(name),
        ": it must start with a letter, a digit or '_' (names are ", kNameRule, ")"));
  }
  for (char c : name) {
    if (!IsNameChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid ", Av(kind), " name ", Quote(name),
                                                     ": ", Quote(std::string_view(&c, 1)),
                                                     " is not allowed (names are ", kNameRule,
                                                     ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<VolumeName> ParseVolumeName(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos || text.find('/', slash + 1) != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume ", Quote(text), " must be named <pool>/<volume>, as pool1/vol1"));
  }
  VolumeName name{std::string(text.substr(0, slash)), std::string(text.substr(slash + 1))};
  if (absl::Status s = ValidateName("pool", name.pool); !s.ok()) return s;
  if (absl::Status s = ValidateName("volume", name.volume); !s.ok()) return s;
  if (std::string dm = DmName(name.pool, name.volume); dm.size() > kMaxDmNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume name ", Quote(text), " is too long: its device name ", dm, " has ",
                     dm.size(), " bytes, the limit is ", kMaxDmNameBytes,
                     " (each '-' counts twice)"));
  }
  return name;
}

std::string DmName(std::string_view pool, std::string_view volume) {
  std::string out;
  out.reserve(2 * (pool.size() + volume.size()) + 1);
  auto append_doubling_dashes = [&out](std::string_view part) {
    for (char c : part) {
      out.push_back(c);
      if (c == '-') out.push_back('-');
    }
  };
  append_doubling_dashes(pool);
  out.push_back('-');
  append_doubling_dashes(volume);
  return out;
}

std::string DmUuid(std::string_view volume_uuid) { return absl::StrCat("CVOL-", Av(volume_uuid)); }

absl::StatusOr<uint64_t> ParseSize(std::string_view text) {
  auto invalid = [text](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid size ", Quote(text), ": ", Av(why),
        " (use a number of bytes or a unit: 4096, 512M, 10G, 1.5T, 2048s)"));
  };
  std::string_view rest = text;
  // Whole part: 1 to 20 digits (more cannot fit in 64 bits whatever the
  // unit, and stopping early keeps the arithmetic in 128 bits).
  uint128 whole = 0;
  size_t whole_digits = 0;
  while (!rest.empty() && absl::ascii_isdigit(static_cast<unsigned char>(rest.front()))) {
    whole = whole * 10 + static_cast<unsigned>(rest.front() - '0');
    rest.remove_prefix(1);
    if (++whole_digits > 20) return invalid("too large");
  }
  // Fraction: at most 18 digits, so 10^digits fits in 64 bits.
  uint128 fraction = 0;
  uint128 fraction_scale = 1;
  bool has_point = !rest.empty() && rest.front() == '.';
  if (has_point) {
    rest.remove_prefix(1);
    size_t digits = 0;
    while (!rest.empty() && absl::ascii_isdigit(static_cast<unsigned char>(rest.front()))) {
      if (++digits > 18) return invalid("too many decimals");
      fraction = fraction * 10 + static_cast<unsigned>(rest.front() - '0');
      fraction_scale *= 10;
      rest.remove_prefix(1);
    }
    if (digits == 0) return invalid("a '.' must be followed by digits");
  }
  if (whole_digits == 0) return invalid(text.empty() ? "it is empty" : "it must start with a digit");

  uint128 unit = 1;
  if (rest == "" || rest == "B" || rest == "b") {
    unit = 1;
  } else if (rest == "s") {
    unit = 512;
  } else {
    static constexpr std::string_view kUnits = "KMGTPE";
    size_t power = kUnits.find(absl::ascii_toupper(static_cast<unsigned char>(rest.front())));
    std::string_view tail = rest.substr(1);
    if (power == std::string_view::npos || !(tail.empty() || tail == "iB" || tail == "ib")) {
      return invalid("unknown unit");
    }
    unit = uint128{1} << (10 * (power + 1));
  }

  uint128 bytes = whole * unit;
  if (whole > kMaxUint64 || bytes > kMaxUint64) return invalid("too large");
  uint128 fraction_bytes = fraction * unit;  // < 10^18 * 2^60: fits
  if (fraction_bytes % fraction_scale != 0) return invalid("it is not a whole number of bytes");
  bytes += fraction_bytes / fraction_scale;
  if (bytes > kMaxUint64) return invalid("too large");
  return static_cast<uint64_t>(bytes);
}

std::string FormatSize(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  size_t unit = 1;
  while (unit + 1 < std::size(kUnits) && bytes >= (uint64_t{1} << (10 * (unit + 1)))) ++unit;
  // Hundredths of the unit, rounded half up; 1023.996 MiB rounds to
  // 1024.00, which reads better one unit up.
  auto hundredths = [bytes](size_t u) {
    uint128 scale = uint128{1} << (10 * u);
    return static_cast<uint64_t>((uint128{bytes} * 100 + scale / 2) / scale);
  };
  uint64_t h = hundredths(unit);
  if (h >= 102400 && unit + 1 < std::size(kUnits)) {
    ++unit;
    h = hundredths(unit);
  }
  return absl::StrFormat("%d.%02d %s", h / 100, h % 100, kUnits[unit]);
}

}  // namespace cvol::control
