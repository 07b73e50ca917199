// Element types, shapes and their arithmetic, shared by the IR and the runtime.
// The element types themselves are the rows of ir/core/dtypes.def.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/core/status.h"
#include "ir/kiln.pb.h"

namespace kiln {

using DType = proto::DataType;
using Dims = std::vector<int64_t>;

/// Largest tensor Kiln will ever describe (2^34 elements, 64 GiB of floats):
/// anything larger is treated as a corrupt or hostile model, never allocated.
constexpr int64_t kMaxTensorElements = int64_t{1} << 34;

/// What kind of number an element is (dtypes.def's `kind` column).
enum class DTypeKind {
  kFloat,     // float32, float64
  kHalf,      // float16, bfloat16: stored as 16-bit patterns, computed in float32
  kSigned,    // int8 ... int64
  kUnsigned,  // uint8 ... uint64
  kBool,
};

/// One row of ir/core/dtypes.def.
struct DTypeInfo {
  DType dtype;
  const char* name;  // "float32", "int64", ... (ONNX/numpy spelling)
  int onnx;          // TensorProto.DataType
  int64_t size;      // bytes per element
  DTypeKind kind;
  const char* npy;     // .npy descr, "" when the format has none
  const char* c_type;  // the C type one element is stored as ("uint16_t" for the 16-bit floats)
};

/// Every dtype Kiln supports, in dtypes.def's order.
const std::vector<DTypeInfo>& DTypeTable();
/// The row of `dtype`, or nullptr (DT_UNDEFINED, an unknown enum value).
const DTypeInfo* FindDType(DType dtype);

/// Size of one element in bytes; 0 for DT_UNDEFINED.
int64_t DTypeSize(DType dtype);
/// "float32", "int64", ... (ONNX/numpy spelling); "undefined" for DT_UNDEFINED.
std::string DTypeName(DType dtype);
/// Parses the names DTypeName produces (and "float" as float32, "double" as float64).
StatusOr<DType> ParseDType(const std::string& name);
/// Kiln's dtype for an ONNX TensorProto.DataType number (Cast's `to`); for the types
/// Kiln does not compute with (string, complex, float8, int4, ...) an error that names them.
StatusOr<DType> DTypeFromOnnx(int64_t onnx_type);
/// The ONNX TensorProto.DataType number of `dtype` (0 for DT_UNDEFINED).
int DTypeToOnnx(DType dtype);
/// The ONNX name of a TensorProto.DataType number ("FLOAT8E4M3FN"), or "type N".
std::string OnnxDTypeName(int64_t onnx_type);

/// float32, float64, float16, bfloat16.
bool IsFloatingType(DType dtype);
/// Any integer type (bool excluded).
bool IsIntegerType(DType dtype);
bool IsSignedIntegerType(DType dtype);

/// IEEE float16 and bfloat16 (stored as their 16-bit patterns) <-> float32, round to nearest even.
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);
float BFloat16ToFloat(uint16_t b);
uint16_t FloatToBFloat16(float f);
/// The same for either 16-bit float type (`dtype` is DT_FLOAT16 or DT_BFLOAT16).
float Float16BitsToFloat(DType dtype, uint16_t bits);
uint16_t FloatToFloat16Bits(DType dtype, float f);

/// Element i of a buffer of `dtype` as double (exact for every type but 64-bit integers
/// beyond 2^53) / as int64 (floats truncated toward zero and saturated, NaN -> 0; uint64
/// above int64's range wraps). 0 for DT_UNDEFINED.
double ElementToDouble(DType dtype, const void* data, int64_t i);
int64_t ElementToInt64(DType dtype, const void* data, int64_t i);

/// Number of elements, or an error when a dim is negative or the product exceeds
/// kMaxTensorElements (checked without overflow).
StatusOr<int64_t> CheckedElementCount(const Dims& dims);
/// Number of elements of dims already known to be valid.
int64_t ElementCount(const Dims& dims);
/// "[1, 3, 224, 224]".
std::string DimsToString(const Dims& dims);
/// Row-major strides in elements.
Dims RowMajorStrides(const Dims& dims);

}  // namespace kiln
