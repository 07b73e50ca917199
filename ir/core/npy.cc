// .npy files in memory. The header and declared shape are checked against the
// bytes actually present before a tensor is allocated.
#include "ir/core/npy.h"

#include <cctype>
#include <cstring>

#include "ir/core/resource_limits.h"

namespace kiln {
namespace {

constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr size_t kNpyMagicSize = 6;

// A tiny reader for the Python dict literal of a .npy header:
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class NpyHeaderParser {
 public:
  NpyHeaderParser(const std::string& text, const std::string& source) : s_(text), source_(source) {}

  Status Parse(std::string* descr, bool* fortran, Dims* shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    SkipSpace();
    if (!Consume('{')) return Error("header does not start with '{'");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      std::string key;
      RETURN_IF_ERROR(ParseString(&key));
      SkipSpace();
      if (!Consume(':')) return Error("expected ':' after '" + key + "'");
      SkipSpace();
      if (key == "descr") {
        RETURN_IF_ERROR(ParseString(descr));
        have_descr = true;
      } else if (key == "fortran_order") {
        if (s_.compare(pos_, 4, "True") == 0) {
          *fortran = true;
          pos_ += 4;
        } else if (s_.compare(pos_, 5, "False") == 0) {
          *fortran = false;
          pos_ += 5;
        } else {
          return Error("fortran_order must be True or False");
        }
        have_fortran = true;
      } else if (key == "shape") {
        RETURN_IF_ERROR(ParseShape(shape));
        have_shape = true;
      } else {
        return Error("unexpected key '" + key + "'");
      }
      SkipSpace();
      if (Consume(',')) continue;
      SkipSpace();
      if (Consume('}')) break;
      return Error("expected ',' or '}'");
    }
    if (!have_descr || !have_fortran || !have_shape) return Error("needs 'descr', 'fortran_order' and 'shape'");
    return Status::Ok();
  }

 private:
  Status Error(const std::string& what) const { return InvalidArgument(source_, ": invalid .npy header: ", what); }
  void SkipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool Consume(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  Status ParseString(std::string* out) {
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) return Error("expected a quoted string");
    char quote = s_[pos_++];
    size_t end = s_.find(quote, pos_);
    if (end == std::string::npos) return Error("unterminated string");
    *out = s_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return Status::Ok();
  }
  Status ParseShape(Dims* shape) {
    shape->clear();
    if (!Consume('(')) return Error("shape must be a tuple");
    while (true) {
      SkipSpace();
      if (Consume(')')) return Status::Ok();
      if (pos_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
        return Error("shape entries must be non-negative integers");
      }
      int64_t dim = 0;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
        if (dim > (kMaxTensorElements - 9) / 10) return Error("dimension too large");
        dim = dim * 10 + (s_[pos_++] - '0');
      }
      // numpy may write a trailing 'L' (Python 2 longs).
      Consume('L');
      shape->push_back(dim);
      SkipSpace();
      if (Consume(',')) continue;
      SkipSpace();
      if (Consume(')')) return Status::Ok();
      return Error("expected ',' or ')' in shape");
    }
  }

  const std::string& s_;
  const std::string& source_;
  size_t pos_ = 0;
};

}  // namespace

bool HasNpyMagic(const std::string& bytes) {
  return bytes.size() >= kNpyMagicSize && bytes.compare(0, kNpyMagicSize, kNpyMagic, kNpyMagicSize) == 0;
}

StatusOr<Tensor> ParseNpy(const std::string& bytes, const std::string& source) {
  if (bytes.size() < kNpyMagicSize + 4 || bytes.compare(0, kNpyMagicSize, kNpyMagic, kNpyMagicSize) != 0) {
    return InvalidArgument(source, ": not a .npy file (bad magic)");
  }
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());
  const int major = u[6];
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = u[8] | (size_t{u[9]} << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return InvalidArgument(source, ": truncated .npy header");
    header_len = u[8] | (size_t{u[9]} << 8) | (size_t{u[10]} << 16) | (size_t{u[11]} << 24);
    header_start = 12;
  } else {
    return Unimplemented(source, ": .npy format version ", major, ".", int{u[7]}, " is not supported");
  }
  if (header_len > bytes.size() - header_start) return InvalidArgument(source, ": truncated .npy header");
  std::string header = bytes.substr(header_start, header_len);
  std::string descr;
  bool fortran = false;
  Dims dims;
  RETURN_IF_ERROR(NpyHeaderParser(header, source).Parse(&descr, &fortran, &dims));
  if (fortran) return Unimplemented(source, ": Fortran-order arrays are not supported (save with C order)");
  DType dtype = proto::DT_UNDEFINED;
  // Little-endian (or byte-order-free) numpy type strings: dtypes.def's npy column.
  for (const DTypeInfo& t : DTypeTable()) {
    if (*t.npy && descr == t.npy) dtype = t.dtype;
  }
  if (descr == "<u1" || descr == "u1") dtype = proto::DT_UINT8;
  if (descr == "<i1" || descr == "i1") dtype = proto::DT_INT8;
  if (descr == "<b1" || descr == "?") dtype = proto::DT_BOOL;
  if (dtype == proto::DT_UNDEFINED) return Unimplemented(source, ": .npy dtype '", descr, "' is not supported");
  RETURN_IF_ERROR(CheckTensorSize(dtype, dims, source));
  auto count = CheckedElementCount(dims);
  if (!count.ok()) return count.status().WithContext(source);
  const size_t data_start = header_start + header_len;
  const int64_t want = *count * DTypeSize(dtype);
  const int64_t have = static_cast<int64_t>(bytes.size() - data_start);
  if (have != want) {
    return InvalidArgument(source, ": shape ", DimsToString(dims), " of ", DTypeName(dtype), " needs ", want,
                           " data bytes but the file has ", have, have < want ? " (truncated)" : "");
  }
  auto t = Tensor::FromBytes(dtype, dims, bytes.data() + data_start, static_cast<size_t>(have));
  if (!t.ok()) return t.status().WithContext(source);
  return t;
}

StatusOr<std::string> EncodeNpy(const Tensor& tensor) {
  const DTypeInfo* row = FindDType(tensor.dtype());
  const char* descr = row && *row->npy ? row->npy : nullptr;
  if (!descr) return Unimplemented("cannot write ", DTypeName(tensor.dtype()), " tensors as .npy");
  std::string shape = "(";
  for (size_t i = 0; i < tensor.dims().size(); ++i) {
    shape += std::to_string(tensor.dims()[i]) + (tensor.dims().size() == 1      ? ","
                                                 : i + 1 < tensor.dims().size() ? ", "
                                                                                : "");
  }
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // numpy pads the header with spaces so the data starts on a 64-byte boundary.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  if (header.size() > 0xffff) return InvalidArgument("tensor rank too large for a .npy 1.0 header");
  std::string out(kNpyMagic, kNpyMagicSize);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(static_cast<const char*>(tensor.data()), static_cast<size_t>(tensor.num_bytes()));
  return out;
}

}  // namespace kiln
