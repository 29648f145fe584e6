// The table line parser (TableLine::Parse): what `dmsetup table` prints
// and what an operator or a record turns into a table. A line it accepts
// must format back to a line that parses to the same thing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cvol/table_line.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cvol::fuzz::FuzzInput in(data, size);
  absl::StatusOr<cvol::TableLine> line = cvol::TableLine::Parse(in.absl_rest());
  if (!line.ok()) return 0;
  const std::string text = line->Format();
  absl::StatusOr<cvol::TableLine> again = cvol::TableLine::Parse(text);
  if (!again.ok()) cvol::fuzz::Violated("Format() of a parsed line does not parse");
  if (!(*again == *line)) cvol::fuzz::Violated("Parse(Format(line)) != line");
  return 0;
}
