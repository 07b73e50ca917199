#include "tools/kiln/tensor_format.h"

#include <cmath>
#include <cstdio>
#include <vector>

namespace kiln::cli {
namespace {

std::string FormatElement(const TensorRef& t, int64_t i, int precision) {
  char buf[64];
  switch (t.dtype) {
    case proto::DT_FLOAT:
    case proto::DT_DOUBLE: {
      const double v = t.dtype == proto::DT_FLOAT ? t.as<float>()[i] : t.as<double>()[i];
      if (std::isnan(v)) return "nan";
      if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
      std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
      std::string s = buf;
      // numpy marks integral floats with a trailing dot ("3."), so they do not read as ints.
      if (s.find_first_of(".e") == std::string::npos) s += '.';
      return s;
    }
    case proto::DT_BOOL: return t.as<uint8_t>()[i] ? "True" : "False";
    case proto::DT_INT64:
      std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(t.as<int64_t>()[i]));
      return buf;
    case proto::DT_INT32: return std::to_string(t.as<int32_t>()[i]);
    case proto::DT_INT8: return std::to_string(t.as<int8_t>()[i]);
    case proto::DT_UINT8: return std::to_string(t.as<uint8_t>()[i]);
    default: return "?";
  }
}

class Formatter {
 public:
  Formatter(const TensorRef& t, const TensorFormatOptions& options)
      : t_(t), options_(options), strides_(RowMajorStrides(t.dims)), summarize_(t.num_elements() > options.threshold) {}

  std::string Format() {
    if (t_.dims.empty()) return FormatElement(t_, 0, options_.precision);
    std::string out;
    Axis(0, 0, &out);
    return out;
  }

 private:
  // Prints axis `axis` of the sub-tensor starting at element `offset`.
  void Axis(size_t axis, int64_t offset, std::string* out) {
    const int64_t n = t_.dims[axis];
    const bool cut = summarize_ && n > 2 * options_.edge_items;
    const bool innermost = axis + 1 == t_.dims.size();
    // Between rows: a newline per remaining axis, numpy style.
    const std::string row_sep = "," + std::string(t_.dims.size() - axis - 1, '\n') + std::string(axis + 1, ' ');
    *out += "[";
    for (int64_t i = 0; i < n; ++i) {
      if (cut && i == options_.edge_items) {
        *out += innermost ? "..., " : "..." + row_sep;
        i = n - options_.edge_items;
      }
      if (innermost) {
        *out += FormatElement(t_, offset + i, options_.precision);
        if (i + 1 < n) *out += ", ";
      } else {
        Axis(axis + 1, offset + i * strides_[axis], out);
        if (i + 1 < n) *out += row_sep;
      }
    }
    *out += "]";
  }

  const TensorRef& t_;
  const TensorFormatOptions& options_;
  Dims strides_;
  bool summarize_;
};

}  // namespace

std::string FormatTensorValues(const TensorRef& tensor, const TensorFormatOptions& options) {
  return Formatter(tensor, options).Format();
}

}  // namespace kiln::cli
