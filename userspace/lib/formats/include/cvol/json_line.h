// A minimal JSON object writer for line-oriented output (one object per
// line, as cvol-events prints events). Only what the tools need: string
// and unsigned number members, in the order they are added.
#ifndef CVOL_JSON_LINE_H_
#define CVOL_JSON_LINE_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace cvol {

// `text` as a JSON string literal, quotes included. Control characters
// are escaped, so the result never contains a newline. Bytes that are not
// valid UTF-8 (a dm name may hold any byte) become U+FFFD: the output
// must stay valid JSON whatever the kernel sent.
std::string JsonQuote(absl::string_view text);

class JsonObjectWriter {
 public:
  JsonObjectWriter& Add(absl::string_view key, absl::string_view value);
  JsonObjectWriter& Add(absl::string_view key, const char* value) {
    return Add(key, absl::string_view(value));
  }
  JsonObjectWriter& Add(absl::string_view key, uint64_t value);

  // "{...}" without a newline.
  std::string Finish() const { return body_ + "}"; }

 private:
  void Key(absl::string_view key);

  std::string body_ = "{";
};

}  // namespace cvol

#endif  // CVOL_JSON_LINE_H_
