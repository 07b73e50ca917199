#include "tools/common/tensor_format.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "runtime/kernels/reference/ref_util.h"

namespace kiln::cli {
namespace {

std::string FormatFloat(double v, int precision) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
  std::string s = buf;
  // numpy marks integral floats with a trailing dot ("3."), so they do not read as ints.
  if (s.find_first_of(".e") == std::string::npos) s += '.';
  return s;
}

// float16 has 3-4 significant digits, bfloat16 2-3: the fewest (up to `precision`) that read back
// as the same bits, as numpy.
std::string FormatHalf(DType dtype, uint16_t h, int precision) {
  const float v = Float16BitsToFloat(dtype, h);
  if (std::isnan(v) || std::isinf(v)) return FormatFloat(v, precision);
  for (int p = 1; p < precision; ++p) {
    char buf[320];  // room for any %g of a float (the compiler counts up to 310 bytes)
    std::snprintf(buf, sizeof(buf), "%.*g", p, v);
    if (FloatToFloat16Bits(dtype, std::strtof(buf, nullptr)) == h) return FormatFloat(v, p);
  }
  return FormatFloat(v, precision);
}

// Every dtype of ir/core/dtypes.def; DT_UNDEFINED has no values to print.
std::string FormatElement(const TensorRef& t, int64_t i, int precision) {
  std::string text = "?";
  (void)runtime::ref::DispatchAllTypes(t.dtype, [&](auto tag) {
    using Tag = decltype(tag);
    const auto v = t.as<typename Tag::Storage>()[i];
    if constexpr (Tag::kind == DTypeKind::kBool) {
      text = v ? "True" : "False";
    } else if constexpr (Tag::kind == DTypeKind::kHalf) {
      text = FormatHalf(Tag::dtype, v, precision);
    } else if constexpr (Tag::kind == DTypeKind::kFloat) {
      text = FormatFloat(v, precision);
    } else {
      text = std::to_string(v);
    }
    return Status::Ok();
  });
  return text;
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
