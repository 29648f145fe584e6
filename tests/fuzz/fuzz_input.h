// What every fuzz target needs from libFuzzer's byte buffer: the input as
// text, a leading selector byte that picks which parser (or format) one
// run exercises, and a way to report a broken invariant as a crash.
//
// The selector is the first byte, counted from '0' so that corpus files
// stay readable: a seed is "<selector><text>", e.g. "2" followed by a
// status line picks the third parser ('0' + 10 is ':', and so on).
#ifndef CVOL_TESTS_FUZZ_FUZZ_INPUT_H_
#define CVOL_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "absl/strings/string_view.h"

namespace cvol::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size)
      : text_(reinterpret_cast<const char*>(data), size) {}

  // (first byte - '0') modulo n (0 for an empty input), consumed.
  unsigned Select(unsigned n) {
    if (text_.empty()) return 0;
    const unsigned v = static_cast<unsigned char>(text_.front() - '0') % n;
    text_.remove_prefix(1);
    return v;
  }

  std::string_view rest() const { return text_; }
  // The same for libcvol's parsers: Debian's Abseil has its own
  // string_view, not an alias of std::string_view.
  absl::string_view absl_rest() const { return absl::string_view(text_.data(), text_.size()); }

 private:
  std::string_view text_;
};

// A parser accepted something it must not have, or its output broke a
// documented property: abort, so libFuzzer saves the input.
[[noreturn]] inline void Violated(const char* what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}

}  // namespace cvol::fuzz

#endif  // CVOL_TESTS_FUZZ_FUZZ_INPUT_H_
