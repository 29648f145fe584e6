// Rate limiting for log lines that someone else can make us repeat at will:
// a refused connection, a failed accept. A flood must show up as one line a
// second with its size, not as thousands of lines that bury everything else
// in the journal (and cost more than the flood itself).
//
// At most one line per interval per reason. The lines held back in between
// are counted; the count goes out with the next line of that reason, or, if
// none comes, from Flush once the interval has passed, so a flood that stops
// is still reported in full.
//
// Not thread-safe: the owner serializes calls (a server calls it under its
// own lock). Time is passed in, so tests need no clock.
#ifndef CVOL_LOG_LIMITER_H_
#define CVOL_LOG_LIMITER_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace cvol {

class LogLimiter {
 public:
  explicit LogLimiter(absl::Duration interval = absl::Seconds(1)) : interval_(interval) {}

  // The line to write now for an event of kind `reason`: `line`, followed
  // by the number of lines of that reason held back since the last one;
  // nullopt if this line is held back (and counted).
  std::optional<std::string> Admit(const std::string& reason, std::string line, absl::Time now) {
    Entry& entry = entries_[reason];
    if (entry.written && now - entry.last < interval_) {
      ++entry.held;
      return std::nullopt;
    }
    if (entry.held != 0) absl::StrAppend(&line, " (", entry.held, " more like it held back)");
    entry = Entry{true, now, 0};
    return line;
  }

  // One line per reason whose held-back lines have not been reported and
  // whose interval has passed: "<reason>: N more held back".
  std::vector<std::string> Flush(absl::Time now) {
    std::vector<std::string> lines;
    for (auto& [reason, entry] : entries_) {
      if (entry.held == 0 || now - entry.last < interval_) continue;
      lines.push_back(absl::StrCat(reason, ": ", entry.held, " more held back"));
      entry = Entry{true, now, 0};
    }
    return lines;
  }

  // When Flush next has something to say; InfiniteFuture if nothing is
  // held back.
  absl::Time NextFlush() const {
    absl::Time next = absl::InfiniteFuture();
    for (const auto& [reason, entry] : entries_) {
      if (entry.held != 0) next = std::min(next, entry.last + interval_);
    }
    return next;
  }

 private:
  struct Entry {
    bool written = false;  // a line of this reason went out, at `last`
    absl::Time last;
    uint64_t held = 0;     // lines held back since
  };

  const absl::Duration interval_;
  std::map<std::string, Entry> entries_;  // one per reason: a handful, fixed by the caller's code
};

}  // namespace cvol

#endif  // CVOL_LOG_LIMITER_H_
