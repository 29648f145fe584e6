#include "table.h"

#include <algorithm>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace cvol::clusterctl {

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = columns_[c].title.size();
    for (const auto& row : rows_) widths[c] = std::max(widths[c], row[c].size());
  }
  auto print_row = [&](auto cell_at) {
    std::string line;
    for (size_t c = 0; c < columns_.size(); ++c) {
      const std::string& cell = cell_at(c);
      std::string padding(widths[c] - cell.size(), ' ');
      if (c > 0) line += "  ";
      if (columns_[c].align == Align::kRight) {
        line += padding + cell;
      } else {
        line += cell + padding;
      }
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << "\n";
  };
  print_row([&](size_t c) -> const std::string& { return columns_[c].title; });
  for (const auto& row : rows_) {
    print_row([&](size_t c) -> const std::string& { return row[c]; });
  }
}

void FieldList::Add(std::string label, std::string value) {
  fields_.emplace_back(std::move(label), std::move(value));
}

void FieldList::Print(std::ostream& out) const {
  size_t width = 0;
  for (const auto& [label, value] : fields_) width = std::max(width, label.size() + 1);
  for (const auto& [label, value] : fields_) {
    out << label << ":" << std::string(width - label.size(), ' ') << value << "\n";
  }
}

}  // namespace cvol::clusterctl
