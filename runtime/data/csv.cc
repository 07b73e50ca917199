// The CSV loader: numeric feature columns and one label column.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>
#include <unordered_map>

#include "runtime/data/dataset.h"
#include "runtime/data/file_util.h"

namespace kiln::data {
namespace {

// Integer labels up to this value are class indices; larger ones are targets.
constexpr double kMaxClassLabel = 100000;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

// A finite number spelled in full (a leading '+' is allowed).
bool ParseNumber(std::string_view s, double* out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && std::isfinite(*out);
}

void SplitFields(std::string_view line, char delimiter, std::vector<std::string_view>* fields) {
  fields->clear();
  size_t start = 0;
  while (true) {
    size_t end = line.find(delimiter, start);
    fields->push_back(Trim(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start)));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
}

bool IsBlank(std::string_view line) { return Trim(line).empty() && line.find('"') == std::string_view::npos; }

}  // namespace

StatusOr<Dataset> LoadCsv(const std::string& path, const CsvOptions& options, std::vector<std::string>* class_names) {
  ASSIGN_OR_RETURN(std::string text, internal::ReadDataFile(path));
  const std::string_view all(text);
  std::vector<std::string_view> fields;
  std::vector<float> features;
  std::vector<std::string_view> label_fields;
  int64_t num_fields = -1, label_column = -1, first_line = 0;
  bool first_row = true;
  size_t pos = 0;
  for (int64_t line_number = 1; pos < all.size(); ++line_number) {
    size_t end = all.find('\n', pos);
    if (end == std::string_view::npos) end = all.size();
    const std::string_view line = all.substr(pos, end - pos);
    pos = end + 1;
    if (IsBlank(line)) continue;
    SplitFields(line, options.delimiter, &fields);
    if (num_fields < 0) {
      num_fields = static_cast<int64_t>(fields.size());
      first_line = line_number;
      if (num_fields < 2) {
        return InvalidArgument(path, ":", line_number, ": needs at least two columns (features and a label), found ",
                               num_fields);
      }
      label_column = options.label_column < 0 ? num_fields + options.label_column : options.label_column;
      if (label_column < 0 || label_column >= num_fields) {
        return InvalidArgument(path, ": label column ", options.label_column, " is out of range for ", num_fields,
                               " columns");
      }
    } else if (static_cast<int64_t>(fields.size()) != num_fields) {
      return InvalidArgument(path, ":", line_number, ": expected ", num_fields, " fields (as on line ", first_line,
                             ") but found ", fields.size());
    }
    if (first_row) {
      first_row = false;
      bool header = options.header == CsvOptions::Header::kPresent;
      if (options.header == CsvOptions::Header::kAuto) {
        double v;
        for (int64_t c = 0; c < num_fields; ++c) {
          if (c != label_column && !ParseNumber(fields[c], &v)) header = true;
        }
      }
      if (header) continue;
    }
    for (int64_t c = 0; c < num_fields; ++c) {
      if (c == label_column) {
        if (fields[c].empty()) return InvalidArgument(path, ":", line_number, ":", c + 1, ": empty label");
        label_fields.push_back(fields[c]);
        continue;
      }
      double v;
      if (!ParseNumber(fields[c], &v)) {
        return InvalidArgument(path, ":", line_number, ":", c + 1, ": feature '", std::string(fields[c]),
                               "' is not a number", fields[c].empty() ? " (empty field)" : "");
      }
      features.push_back(static_cast<float>(v));
    }
  }
  const int64_t n = static_cast<int64_t>(label_fields.size());
  if (n == 0) return InvalidArgument(path, ": no data rows");
  const int64_t f = num_fields - 1;

  Dataset ds;
  ds.source = path;
  ds.features = Tensor::FromVector(proto::DT_FLOAT, {n, f}, features);
  features = {};
  if (class_names) class_names->clear();

  // Decide how the labels read: numbers (integral class indices or targets) or names.
  std::vector<double> numbers(static_cast<size_t>(n));
  bool all_numbers = true, all_classes = true;
  int64_t bad_row = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (!ParseNumber(label_fields[i], &numbers[i])) {
      all_numbers = false;
      if (bad_row < 0) bad_row = i;
      break;
    }
    const double v = numbers[i];
    if (v < 0 || v > kMaxClassLabel || v != std::floor(v)) all_classes = false;
  }
  if (options.regression || (all_numbers && !all_classes)) {
    if (!all_numbers) {
      return InvalidArgument(path, ": regression target '", std::string(label_fields[bad_row]), "' of data row ",
                             bad_row + 1, " is not a number");
    }
    ds.labels = Tensor(proto::DT_FLOAT, {n, 1});
    float* l = ds.labels.mutable_data_as<float>();
    for (int64_t i = 0; i < n; ++i) l[i] = static_cast<float>(numbers[i]);
    ds.num_classes = 0;
    return ds;
  }
  ds.labels = Tensor(proto::DT_INT64, {n});
  int64_t* l = ds.labels.mutable_data_as<int64_t>();
  if (all_numbers) {
    int64_t max_label = -1;
    for (int64_t i = 0; i < n; ++i) {
      l[i] = static_cast<int64_t>(numbers[i]);
      max_label = std::max(max_label, l[i]);
    }
    ds.num_classes = max_label + 1;
    if (class_names) {
      for (int64_t c = 0; c < ds.num_classes; ++c) class_names->push_back(std::to_string(c));
    }
    return ds;
  }
  std::unordered_map<std::string_view, int64_t> ids;
  for (int64_t i = 0; i < n; ++i) {
    auto [it, inserted] = ids.emplace(label_fields[i], static_cast<int64_t>(ids.size()));
    if (inserted && class_names) class_names->emplace_back(label_fields[i]);
    l[i] = it->second;
  }
  ds.num_classes = static_cast<int64_t>(ids.size());
  return ds;
}

}  // namespace kiln::data
