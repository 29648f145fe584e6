#include "cvol/word_reader.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cvol/decimal.h"
#include "cvol/status_macros.h"

namespace cvol {

WordReader::WordReader(absl::string_view text)
    : words_(absl::StrSplit(text, absl::ByAnyChar(" \t\n\r\f\v"),
                            absl::SkipEmpty())) {}

absl::StatusOr<absl::string_view> WordReader::Next(absl::string_view what) {
  if (AtEnd()) return absl::InvalidArgumentError(absl::StrCat("missing ", what));
  return words_[next_++];
}

absl::StatusOr<uint64_t> WordReader::NextDecimal(absl::string_view what,
                                                 uint64_t max) {
  ASSIGN_OR_RETURN(absl::string_view word, Next(what));
  return ParseDecimal(word, what, max);
}

std::vector<absl::string_view> WordReader::Rest() const {
  return {words_.begin() + static_cast<std::ptrdiff_t>(next_), words_.end()};
}

}  // namespace cvol
