// Sequential access to the whitespace-separated words of a table line,
// message or status, with errors that say which word was missing or bad.
#ifndef CVOL_WORD_READER_H_
#define CVOL_WORD_READER_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cvol {

class WordReader {
 public:
  // Splits on ASCII whitespace; `text` must outlive the reader.
  explicit WordReader(absl::string_view text);

  bool AtEnd() const { return next_ == words_.size(); }
  size_t Remaining() const { return words_.size() - next_; }

  // Returns the next word or "missing <what>".
  absl::StatusOr<absl::string_view> Next(absl::string_view what);
  // Returns the next word parsed by ParseDecimal.
  absl::StatusOr<uint64_t> NextDecimal(
      absl::string_view what,
      uint64_t max = std::numeric_limits<uint64_t>::max());

  // The words not consumed yet.
  std::vector<absl::string_view> Rest() const;

 private:
  std::vector<absl::string_view> words_;
  size_t next_ = 0;
};

}  // namespace cvol

#endif  // CVOL_WORD_READER_H_
