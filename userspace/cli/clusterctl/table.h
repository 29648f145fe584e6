// Aligned plain-text tables and "Key: value" lists for clusterctl's human
// output. Byte widths: names are ASCII by rule, and anything else (a device
// path) only misaligns its own row.
#ifndef CVOL_CLUSTERCTL_TABLE_H_
#define CVOL_CLUSTERCTL_TABLE_H_

#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace cvol::clusterctl {

class Table {
 public:
  enum class Align { kLeft, kRight };
  struct Column {
    std::string title;
    Align align = Align::kLeft;
  };

  explicit Table(std::vector<Column> columns);

  // Missing cells print empty; extra cells are a caller bug and dropped.
  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }

  // The header and the rows, columns two spaces apart, no trailing blanks.
  void Print(std::ostream& out) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// "Name:      pool1" lines with the values aligned.
class FieldList {
 public:
  void Add(std::string label, std::string value);
  void Print(std::ostream& out) const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace cvol::clusterctl

#endif  // CVOL_CLUSTERCTL_TABLE_H_
