// Images as classifier inputs: decode a PNG (libpng) or PGM/PPM file, turn it into
// the tensor a model takes (grayscale, inverted when the background is light,
// MNIST-style cropping and centring for 28x28 inputs, the training set's
// normalization), and rank a model's output row. What `kiln predict --image` and a
// compiled classifier's `--image` both call; runtime only (no compiler code).
//
// Typical use (a compiled classifier embeds its model's TrainingSpec, e.g. as
// serialized bytes, and takes the input dims from its plan):
//   proto::InputPreprocessing pre = runtime::InputPreprocessingOf(training);
//   runtime::ImageInputOptions opts = runtime::DefaultImageInputOptions(training);
//   ASSIGN_OR_RETURN(Tensor x, runtime::LoadImageInput("digit.png", input_dims, pre, opts));
//   ... copy x into the session's input (batch row 0), Run() ...
//   auto top = runtime::TopK(scores, num_classes, 3);
//   std::fputs(runtime::FormatPredictions("digit.png", top, class_names).c_str(), stdout);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/core/status.h"
#include "ir/core/tensor.h"
#include "ir/kiln.pb.h"

namespace kiln::runtime {

/// A decoded image. Alpha is composited over white when decoding, so only gray
/// and RGB remain; every bit depth is mapped to [0, 255].
struct Image {
  int64_t width = 0, height = 0;
  int channels = 0;           // 1 (gray) or 3 (RGB)
  std::vector<float> pixels;  // row-major, channels interleaved, values in [0, 255]

  float at(int64_t y, int64_t x, int c = 0) const { return pixels[(y * width + x) * channels + c]; }
};

/// Images wider or taller than this, or with more pixels than kMaxImagePixels,
/// are rejected before anything is allocated for them.
constexpr int64_t kMaxImageSide = 16384;
constexpr int64_t kMaxImagePixels = int64_t{64} << 20;
/// Largest image file read: 256 MiB.
constexpr int64_t kMaxImageFileBytes = int64_t{256} << 20;

/// Decodes PNG (any colour type, bit depth, palette, transparency, interlacing) or
/// PGM/PPM (P2, P3, P5, P6, maxval up to 65535), chosen by the content. `name`
/// (usually the file) starts every error message.
StatusOr<Image> DecodeImage(const std::string& bytes, const std::string& name);
/// Reads and decodes a file; a missing file is kNotFound, errors name the file.
StatusOr<Image> ReadImageFile(const std::string& path);

// ---- Normalization "as in training" ----------------------------------------------

/// The preprocessing a trained model's inputs had, as `kiln train` records it in
/// TrainingSpec.input_preprocessing. When the model has no record: the spec's
/// `preprocess` name when it needs no fitted statistics (scale, none), else scale
/// to [0, 1] (x / 255). Sets `*warning` (when not null) to a reason when it had to
/// fall back although the model says it was trained otherwise.
proto::InputPreprocessing InputPreprocessingOf(const proto::TrainingSpec& training, std::string* warning = nullptr);
/// Applies `pre` in place to a sample of raw 0..255 values (the flattened sample,
/// in the model input's layout): x' = (x - offset[j]) / divisor[j], where a single
/// offset/divisor applies to every element and a zero divisor gives 0.
Status ApplyInputPreprocessing(const proto::InputPreprocessing& pre, float* sample, int64_t elements);

// ---- Image -> model input ----------------------------------------------------------

/// How the object is placed in a 28x28 single-channel input.
enum class ImageFit {
  kMnist,         // crop to the ink, longest side 20 px, centred by centre of mass (MNIST digits)
  kFashionMnist,  // crop to the ink, longest side 28 px, centred by its bounding box
  kResize,        // the whole image resized to the input (any input size)
};
/// "mnist", "fashion-mnist", "resize" -> ImageFit; anything else is an error.
StatusOr<ImageFit> ParseImageFit(const std::string& name);

struct ImageInputOptions {
  ImageFit fit = ImageFit::kMnist;                                // used only for 28x28 single-channel inputs
  enum class Invert { kAuto, kYes, kNo } invert = Invert::kAuto;  // kAuto: when the border is light
};
/// kFashionMnist for models trained on Fashion-MNIST (data spec or class names), else kMnist.
ImageInputOptions DefaultImageInputOptions(const proto::TrainingSpec& training);

/// The model input layouts an image maps to (dims with the batch first; the batch
/// may be symbolic, i.e. negative): [N, 1|3, H, W], [N, H, W, 1|3], [N, H, W] and
/// [N, S*S] (a flattened square grayscale image of S >= 8, as MLPs take).
struct ImageLayout {
  int64_t height = 0, width = 0;
  int channels = 0;
  bool channels_last = false;
};
StatusOr<ImageLayout> ImageLayoutOf(const Dims& input_dims);

/// Converts `image` to one float32 sample of the model input: dims are input_dims
/// with the batch set to 1. Single-channel inputs get luma, inversion when the
/// background is light, and (28x28) the fit; then `pre` is applied.
StatusOr<Tensor> ImageToInput(const Image& image, const Dims& input_dims, const proto::InputPreprocessing& pre,
                              const ImageInputOptions& options = {});
/// ReadImageFile + ImageToInput; errors name the file.
StatusOr<Tensor> LoadImageInput(const std::string& path, const Dims& input_dims, const proto::InputPreprocessing& pre,
                                const ImageInputOptions& options = {});

// ---- The steps, exposed for tests and other callers --------------------------------

/// Rec. 601 luma (0.299 R + 0.587 G + 0.114 B); a gray image is returned as is.
Image ToGrayscale(const Image& image);
/// True when the mean of the outermost rows and columns is above mid-gray.
bool HasLightBackground(const Image& gray);
/// 255 - x for every pixel.
Image Invert(const Image& image);
/// Resamples to width x height: area averaging along an axis that shrinks,
/// bilinear interpolation along one that grows.
Image Resize(const Image& image, int64_t width, int64_t height);
/// Light ink on a dark background -> a size x size image: the background level (the
/// border's median) is subtracted and the brightest ink stretched to 255, the ink's
/// bounding box is cropped and scaled (aspect kept) so its longest side is
/// `box` px, and placed centred by its centre of mass (by_mass) or bounding box.
Image FitInk(const Image& gray, int64_t size, int64_t box, bool by_mass);

// ---- Output -> classes -------------------------------------------------------------

struct ClassScore {
  int64_t index = 0;
  float probability = 0;
};
/// True when every score is in [0, 1] and they sum to 1 (within 1e-3).
bool IsDistribution(const float* scores, int64_t n);
/// The k most probable classes of one output row, best first; softmax is applied
/// first unless the row is already a distribution.
std::vector<ClassScore> TopK(const float* scores, int64_t n, int64_t k);

/// What `kiln predict` prints for one image: `title` on a line, then a line per class,
/// "  NAME  97.31%  (class 9)" (NAME from `labels` when it has the index).
std::string FormatPredictions(const std::string& title, const std::vector<ClassScore>& top,
                              const std::vector<std::string>& labels);

/// Class names of well-known data sets: "fashion-mnist", "mnist"/"digits"; empty otherwise.
std::vector<std::string> KnownClassNames(const std::string& name);

}  // namespace kiln::runtime
