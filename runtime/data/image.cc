// Image decoding (libpng; a strict PGM/PPM reader) and image -> model input.
#include "runtime/data/image.h"

#include <png.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <numeric>

namespace kiln::runtime {
namespace {

Status CheckSize(const std::string& name, int64_t width, int64_t height) {
  if (width <= 0 || height <= 0) return InvalidArgument(name, ": image has no pixels (", width, "x", height, ")");
  if (width > kMaxImageSide || height > kMaxImageSide || width * height > kMaxImagePixels) {
    return InvalidArgument(name, ": image is too large (", width, "x", height, "; at most ", kMaxImageSide,
                           " px a side and ", kMaxImagePixels, " pixels)");
  }
  return Status::Ok();
}

// ---- PNG via libpng ------------------------------------------------------------------
// libpng reports errors by longjmp: everything the decoder touches after setjmp
// lives in this struct (owned by the caller's frame), so no C++ destructor is
// skipped, and the error text is copied out before the jump.
struct PngDecode {
  const std::string* bytes = nullptr;
  size_t pos = 0;
  char error[256] = {0};
  bool too_large = false;
  png_uint_32 width = 0, height = 0;
  int channels = 0, bit_depth = 0;
  std::vector<unsigned char> data;
  std::vector<png_bytep> rows;
};

constexpr char kTruncated[] = "truncated";

void PngError(png_structp png, png_const_charp message) {
  auto* d = static_cast<PngDecode*>(png_get_error_ptr(png));
  std::snprintf(d->error, sizeof(d->error), "%s", message);
  png_longjmp(png, 1);
}

void PngWarning(png_structp, png_const_charp) {}  // e.g. "known incorrect sRGB profile": harmless

void PngRead(png_structp png, png_bytep out, png_size_t n) {
  auto* d = static_cast<PngDecode*>(png_get_io_ptr(png));
  if (n > d->bytes->size() - d->pos) png_error(png, kTruncated);
  std::memcpy(out, d->bytes->data() + d->pos, n);
  d->pos += n;
}

// libpng allocates an ancillary chunk at its declared length before reading it: walk
// the chunk list first and refuse any chunk longer than the bytes that remain, so a
// small file cannot cause a large allocation (chunk_malloc_max is not enough alone).
bool CheckPngChunkLengths(PngDecode* d) {
  const std::string& b = *d->bytes;
  size_t pos = 8;  // after the signature
  while (pos + 8 <= b.size()) {
    const auto* u = reinterpret_cast<const unsigned char*>(b.data() + pos);
    const uint64_t length = (uint64_t{u[0]} << 24) | (u[1] << 16) | (u[2] << 8) | u[3];
    if (length + 12 > b.size() - pos) {  // reported like any file that ends early
      std::snprintf(d->error, sizeof(d->error), "%s", kTruncated);
      return false;
    }
    if (b.compare(pos + 4, 4, "IEND") == 0) break;
    pos += 12 + static_cast<size_t>(length);
  }
  return true;
}

// Returns false on a libpng error (message in d->error).
bool DecodePngInto(PngDecode* d) {
  if (!CheckPngChunkLengths(d)) return false;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, d, PngError, PngWarning);
  if (!png) {
    std::snprintf(d->error, sizeof(d->error), "cannot initialize libpng");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    return false;
  }
  png_set_read_fn(png, d, PngRead);
  // Also cap what libpng may allocate for one chunk (decompressed zTXt/iCCP included);
  // the sides are checked below, before any row is allocated.
  png_set_chunk_malloc_max(png, 8u << 20);
  png_read_info(png, info);
  d->width = png_get_image_width(png, info);
  d->height = png_get_image_height(png, info);
  // Checked here, before libpng or we allocate rows (libpng's own limit is 1e6 a side).
  if (d->width > kMaxImageSide || d->height > kMaxImageSide || int64_t{d->width} * d->height > kMaxImagePixels) {
    d->too_large = true;
    png_destroy_read_struct(&png, &info, nullptr);
    return true;
  }
  // Palette -> RGB, gray below 8 bits -> 8 bits, tRNS -> alpha; 16 bits are kept.
  png_set_expand(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  d->channels = png_get_channels(png, info);
  d->bit_depth = png_get_bit_depth(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  d->data.resize(row_bytes * d->height);
  d->rows.resize(d->height);
  for (png_uint_32 y = 0; y < d->height; ++y) d->rows[y] = d->data.data() + y * row_bytes;
  png_read_image(png, d->rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

StatusOr<Image> DecodePng(const std::string& bytes, const std::string& name) {
  PngDecode d;
  d.bytes = &bytes;
  if (!DecodePngInto(&d)) {
    if (std::strcmp(d.error, kTruncated) == 0) return InvalidArgument(name, ": truncated PNG (the file ends early)");
    return InvalidArgument(name, ": corrupt PNG (", d.error, ")");
  }
  if (d.too_large) RETURN_IF_ERROR(CheckSize(name, d.width, d.height));
  if (d.bit_depth != 8 && d.bit_depth != 16) return InvalidArgument(name, ": unsupported PNG bit depth ", d.bit_depth);
  const bool alpha = d.channels == 2 || d.channels == 4;
  const int color = alpha ? d.channels - 1 : d.channels;
  const double max = d.bit_depth == 16 ? 65535.0 : 255.0;
  Image img;
  img.width = d.width;
  img.height = d.height;
  img.channels = color;
  img.pixels.resize(static_cast<size_t>(img.width * img.height * color));
  const int64_t samples = img.width * img.height * d.channels;
  auto sample = [&](int64_t i) -> double {
    const unsigned char* p = d.data.data() + i * (d.bit_depth / 8);
    return d.bit_depth == 16 ? (p[0] << 8 | p[1]) : p[0];
  };
  for (int64_t px = 0, i = 0; i < samples; ++px, i += d.channels) {
    // Transparent pixels become white: drawings on a transparent canvas are dark on light.
    const double a = alpha ? sample(i + color) / max : 1.0;
    for (int c = 0; c < color; ++c) {
      img.pixels[px * color + c] = static_cast<float>((sample(i + c) / max * a + (1.0 - a)) * 255.0);
    }
  }
  return img;
}

// ---- PGM / PPM -------------------------------------------------------------------
// stb_image (libstb-dev) was considered, but it reads neither P2/P3 nor maxval
// other than 255/65535 correctly, and accepts truncated pixel data silently: this
// reader is strict instead.
class PnmReader {
 public:
  PnmReader(const std::string& bytes, const std::string& name) : s_(bytes), name_(name) {}

  StatusOr<Image> Read() {
    const char kind = s_[1];
    const bool ascii = kind == '2' || kind == '3';
    const int channels = (kind == '3' || kind == '6') ? 3 : 1;
    pos_ = 2;
    ASSIGN_OR_RETURN(int64_t width, HeaderNumber("width"));
    ASSIGN_OR_RETURN(int64_t height, HeaderNumber("height"));
    ASSIGN_OR_RETURN(int64_t maxval, HeaderNumber("maxval"));
    if (maxval < 1 || maxval > 65535) return InvalidArgument(name_, ": PNM maxval ", maxval, " is not in [1, 65535]");
    RETURN_IF_ERROR(CheckSize(name_, width, height));
    Image img;
    img.width = width;
    img.height = height;
    img.channels = channels;
    const int64_t n = width * height * channels;
    if (!ascii) {
      // Exactly one whitespace character separates the header from binary pixels.
      if (pos_ >= s_.size() || !std::isspace(static_cast<unsigned char>(s_[pos_]))) {
        return InvalidArgument(name_, ": corrupt PNM header (no whitespace after maxval)");
      }
      ++pos_;
      const int64_t bytes_per = maxval > 255 ? 2 : 1;
      if (static_cast<int64_t>(s_.size() - pos_) < n * bytes_per) {
        return InvalidArgument(name_, ": truncated PNM (", width, "x", height, " needs ", n * bytes_per,
                               " bytes of pixels, the file has ", s_.size() - pos_, ")");
      }
    }
    img.pixels.resize(static_cast<size_t>(n));
    const auto* p = reinterpret_cast<const unsigned char*>(s_.data()) + pos_;
    for (int64_t i = 0; i < n; ++i) {
      int64_t v;
      if (ascii) {
        ASSIGN_OR_RETURN(v, Number("pixel value", true));
      } else {
        v = maxval > 255 ? (p[2 * i] << 8 | p[2 * i + 1]) : p[i];
      }
      if (v > maxval) return InvalidArgument(name_, ": corrupt PNM (pixel value ", v, " above maxval ", maxval, ")");
      img.pixels[i] = static_cast<float>(v * 255.0 / maxval);
    }
    return img;
  }

 private:
  void SkipSpaceAndComments() {
    while (pos_ < s_.size()) {
      if (std::isspace(static_cast<unsigned char>(s_[pos_]))) {
        ++pos_;
      } else if (s_[pos_] == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n' && s_[pos_] != '\r') ++pos_;
      } else {
        break;
      }
    }
  }
  StatusOr<int64_t> HeaderNumber(const char* what) { return Number(what, false); }
  StatusOr<int64_t> Number(const char* what, bool in_pixels) {
    SkipSpaceAndComments();
    if (pos_ >= s_.size()) {
      return InvalidArgument(
          name_, in_pixels ? ": truncated PNM (the file ends before the last pixel)" : ": truncated PNM header (no ",
          in_pixels ? "" : what, in_pixels ? "" : ")");
    }
    if (!std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      return InvalidArgument(name_, ": corrupt PNM (expected the ", what, ", found '", s_[pos_], "')");
    }
    int64_t v = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      v = v * 10 + (s_[pos_++] - '0');
      if (v > (int64_t{1} << 31)) return InvalidArgument(name_, ": corrupt PNM (", what, " is too large)");
    }
    return v;
  }

  const std::string& s_;
  const std::string& name_;
  size_t pos_ = 0;
};

bool IsPnm(const std::string& b) { return b.size() >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7'; }

// ---- Resampling --------------------------------------------------------------------

// Weights of the source pixels of each destination pixel along one axis.
struct Tap {
  int64_t src;
  float weight;
};
std::vector<std::vector<Tap>> AxisTaps(int64_t from, int64_t to) {
  std::vector<std::vector<Tap>> taps(to);
  const double scale = static_cast<double>(from) / to;
  for (int64_t i = 0; i < to; ++i) {
    if (to <= from) {  // area averaging: the overlap of [i, i+1) * scale with each source pixel
      const double lo = i * scale, hi = (i + 1) * scale;
      for (int64_t s = static_cast<int64_t>(std::floor(lo)); s < hi && s < from; ++s) {
        const double w = std::min<double>(hi, s + 1) - std::max<double>(lo, s);
        if (w > 1e-9) taps[i].push_back({s, static_cast<float>(w / scale)});
      }
    } else {  // bilinear between pixel centres, edges clamped
      const double x = std::clamp((i + 0.5) * scale - 0.5, 0.0, static_cast<double>(from - 1));
      const int64_t s = static_cast<int64_t>(std::floor(x));
      const double f = x - s;
      taps[i].push_back({s, static_cast<float>(1 - f)});
      if (f > 0 && s + 1 < from) taps[i].push_back({s + 1, static_cast<float>(f)});
    }
  }
  return taps;
}

Image Crop(const Image& img, int64_t x0, int64_t y0, int64_t w, int64_t h) {
  Image out;
  out.width = w;
  out.height = h;
  out.channels = img.channels;
  out.pixels.resize(static_cast<size_t>(w * h * img.channels));
  for (int64_t y = 0; y < h; ++y) {
    const float* src = img.pixels.data() + ((y0 + y) * img.width + x0) * img.channels;
    std::copy(src, src + w * img.channels, out.pixels.data() + y * w * img.channels);
  }
  return out;
}

float Median(std::vector<float> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

std::vector<float> Border(const Image& gray) {
  std::vector<float> b;
  for (int64_t x = 0; x < gray.width; ++x) {
    b.push_back(gray.at(0, x));
    if (gray.height > 1) b.push_back(gray.at(gray.height - 1, x));
  }
  for (int64_t y = 1; y + 1 < gray.height; ++y) {
    b.push_back(gray.at(y, 0));
    if (gray.width > 1) b.push_back(gray.at(y, gray.width - 1));
  }
  return b;
}

}  // namespace

StatusOr<Image> DecodeImage(const std::string& bytes, const std::string& name) {
  if (bytes.empty()) return InvalidArgument(name, ": empty file, not an image");
  if (bytes.size() >= 8 && png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) == 0) {
    return DecodePng(bytes, name);
  }
  if (IsPnm(bytes)) {
    if (bytes[1] == '2' || bytes[1] == '3' || bytes[1] == '5' || bytes[1] == '6') return PnmReader(bytes, name).Read();
    return InvalidArgument(name, ": unsupported Netpbm type P", bytes[1], " (expected P2/P5 PGM or P3/P6 PPM)");
  }
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
      static_cast<unsigned char>(bytes[1]) == 0xD8) {
    return InvalidArgument(name, ": JPEG images are not supported (convert to PNG)");
  }
  if (bytes.size() >= 4 && bytes.compare(0, 4, "\x89PNG") == 0) return InvalidArgument(name, ": corrupt PNG signature");
  return InvalidArgument(name, ": not a PNG, PGM or PPM image");
}

StatusOr<Image> ReadImageFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return NotFound(path, ": no such file");
  if (S_ISDIR(st.st_mode)) return InvalidArgument(path, ": is a directory, not an image");
  if (st.st_size > kMaxImageFileBytes) {
    return InvalidArgument(path, ": file is too large for an image (", st.st_size, " bytes)");
  }
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return InvalidArgument(path, ": cannot open (", std::strerror(errno), ")");
  std::string bytes;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    bytes.append(buf, n);
    if (static_cast<int64_t>(bytes.size()) > kMaxImageFileBytes) break;
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return InvalidArgument(path, ": read error");
  return DecodeImage(bytes, path);
}

// ---- Normalization ------------------------------------------------------------------

proto::InputPreprocessing InputPreprocessingOf(const proto::TrainingSpec& training, std::string* warning) {
  if (training.has_input_preprocessing()) return training.input_preprocessing();
  proto::InputPreprocessing pre;
  const std::string& how = training.preprocess();
  if (how == "none") {
    pre.set_method("none");
    return pre;
  }
  if ((how == "minmax" || how == "standardize") && warning) {
    *warning = "the model was trained with '" + how +
               "' preprocessing but does not record its statistics (retrain it to record them); scaling pixels to "
               "[0, 1] instead";
  }
  pre.set_method("scale");
  pre.add_offset(0.0f);
  pre.add_divisor(255.0f);
  return pre;
}

Status ApplyInputPreprocessing(const proto::InputPreprocessing& pre, float* sample, int64_t elements) {
  const int64_t no = pre.offset_size(), nd = pre.divisor_size();
  if (no == 0 && nd == 0) return Status::Ok();
  if ((no != 1 && no != elements) || (nd != 1 && nd != elements)) {
    return InvalidArgument("the model's recorded '", pre.method(), "' preprocessing has ", std::max(no, nd),
                           " values per sample but its input has ", elements, " elements");
  }
  for (int64_t j = 0; j < elements; ++j) {
    const float offset = no == 1 ? pre.offset(0) : pre.offset(j);
    const float divisor = nd == 1 ? pre.divisor(0) : pre.divisor(j);
    sample[j] = divisor != 0 ? (sample[j] - offset) / divisor : 0.0f;
  }
  return Status::Ok();
}

// ---- Image -> input ---------------------------------------------------------------------

StatusOr<ImageFit> ParseImageFit(const std::string& name) {
  if (name == "mnist" || name == "digits") return ImageFit::kMnist;
  if (name == "fashion-mnist" || name == "fashion") return ImageFit::kFashionMnist;
  if (name == "resize") return ImageFit::kResize;
  return InvalidArgument("unknown fit '", name, "' (expected mnist, fashion-mnist or resize)");
}

ImageInputOptions DefaultImageInputOptions(const proto::TrainingSpec& training) {
  ImageInputOptions o;
  const bool fashion_data = training.data().rfind("fashion-mnist", 0) == 0;
  const bool fashion_names = training.class_names_size() == 10 && training.class_names(0) == "T-shirt/top";
  if (fashion_data || fashion_names) o.fit = ImageFit::kFashionMnist;
  return o;
}

StatusOr<ImageLayout> ImageLayoutOf(const Dims& d) {
  auto fixed = [&](size_t from) {
    for (size_t i = from; i < d.size(); ++i) {
      if (d[i] <= 0) return false;
    }
    return true;
  };
  const auto bad = [&]() {
    return InvalidArgument(
        "input shape ", DimsToString(d),
        " is not an image input (expected [N, 1|3, H, W], [N, H, W, 1|3], [N, H, W] or [N, H*W] with H = W >= 8)");
  };
  if (d.size() < 2 || !fixed(1)) return bad();
  ImageLayout l;
  if (d.size() == 2) {
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(d[1]))));
    if (side * side != d[1] || side < 8) return bad();  // [N, 4] is iris, not a 2x2 image
    l.height = l.width = side;
    l.channels = 1;
  } else if (d.size() == 3) {
    l.height = d[1];
    l.width = d[2];
    l.channels = 1;
  } else if (d.size() == 4 && (d[1] == 1 || d[1] == 3)) {
    l.channels = static_cast<int>(d[1]);
    l.height = d[2];
    l.width = d[3];
  } else if (d.size() == 4 && (d[3] == 1 || d[3] == 3)) {
    l.channels = static_cast<int>(d[3]);
    l.height = d[1];
    l.width = d[2];
    l.channels_last = true;
  } else {
    return bad();
  }
  return l;
}

Image ToGrayscale(const Image& img) {
  if (img.channels == 1) return img;
  Image g;
  g.width = img.width;
  g.height = img.height;
  g.channels = 1;
  g.pixels.resize(static_cast<size_t>(img.width * img.height));
  for (size_t i = 0; i < g.pixels.size(); ++i) {
    const float* p = img.pixels.data() + i * 3;
    g.pixels[i] = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
  }
  return g;
}

bool HasLightBackground(const Image& gray) {
  const std::vector<float> b = Border(gray);
  return !b.empty() && std::accumulate(b.begin(), b.end(), 0.0) / b.size() > 127.5;
}

Image Invert(const Image& img) {
  Image out = img;
  for (float& v : out.pixels) v = 255.0f - v;
  return out;
}

Image Resize(const Image& img, int64_t width, int64_t height) {
  const int c = img.channels;
  const auto tx = AxisTaps(img.width, width), ty = AxisTaps(img.height, height);
  // Rows first (width), then columns (height).
  std::vector<float> tmp(static_cast<size_t>(img.height * width * c), 0.0f);
  for (int64_t y = 0; y < img.height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      for (const Tap& t : tx[x]) {
        for (int k = 0; k < c; ++k) tmp[(y * width + x) * c + k] += t.weight * img.at(y, t.src, k);
      }
    }
  }
  Image out;
  out.width = width;
  out.height = height;
  out.channels = c;
  out.pixels.assign(static_cast<size_t>(width * height * c), 0.0f);
  for (int64_t y = 0; y < height; ++y) {
    for (const Tap& t : ty[y]) {
      for (int64_t i = 0; i < width * c; ++i) out.pixels[y * width * c + i] += t.weight * tmp[t.src * width * c + i];
    }
  }
  return out;
}

Image FitInk(const Image& gray_in, int64_t size, int64_t box, bool by_mass) {
  Image gray = gray_in;
  // Levels: paper -> 0 and the strongest ink -> 255, as in the training images.
  const float background = Median(Border(gray));
  float peak = 0;
  for (float v : gray.pixels) peak = std::max(peak, v - background);
  const float gain = peak > 0 ? 255.0f / peak : 0.0f;
  for (float& v : gray.pixels) v = std::clamp((v - background) * gain, 0.0f, 255.0f);
  Image out;
  out.width = out.height = size;
  out.channels = 1;
  out.pixels.assign(static_cast<size_t>(size * size), 0.0f);
  // The ink's bounding box: pixels above 10% of full intensity.
  int64_t x0 = gray.width, y0 = gray.height, x1 = -1, y1 = -1;
  for (int64_t y = 0; y < gray.height; ++y) {
    for (int64_t x = 0; x < gray.width; ++x) {
      if (gray.at(y, x) > 25.5f) {
        x0 = std::min(x0, x), x1 = std::max(x1, x);
        y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
    }
  }
  if (x1 < 0) return out;  // a blank image
  const int64_t w = x1 - x0 + 1, h = y1 - y0 + 1;
  const double scale = static_cast<double>(box) / std::max(w, h);
  const int64_t sw = std::clamp<int64_t>(std::llround(w * scale), 1, box);
  const int64_t sh = std::clamp<int64_t>(std::llround(h * scale), 1, box);
  const Image patch = Resize(Crop(gray, x0, y0, w, h), sw, sh);
  int64_t ox = (size - sw + 1) / 2, oy = (size - sh + 1) / 2;  // an odd margin: the extra px before
  if (by_mass) {
    double mass = 0, mx = 0, my = 0;
    for (int64_t y = 0; y < sh; ++y) {
      for (int64_t x = 0; x < sw; ++x) {
        const double v = patch.at(y, x);
        mass += v, mx += v * x, my += v * y;
      }
    }
    if (mass > 0) {  // move the centre of mass to the frame's centre, keeping the patch inside
      ox = std::clamp<int64_t>(std::llround((size - 1) / 2.0 - mx / mass), 0, size - sw);
      oy = std::clamp<int64_t>(std::llround((size - 1) / 2.0 - my / mass), 0, size - sh);
    }
  }
  for (int64_t y = 0; y < sh; ++y) {
    for (int64_t x = 0; x < sw; ++x) out.pixels[(oy + y) * size + ox + x] = patch.at(y, x);
  }
  return out;
}

StatusOr<Tensor> ImageToInput(const Image& image, const Dims& input_dims, const proto::InputPreprocessing& pre,
                              const ImageInputOptions& options) {
  ASSIGN_OR_RETURN(ImageLayout l, ImageLayoutOf(input_dims));
  Image img;
  if (l.channels == 1) {
    img = ToGrayscale(image);
    const bool invert = options.invert == ImageInputOptions::Invert::kYes ||
                        (options.invert == ImageInputOptions::Invert::kAuto && HasLightBackground(img));
    if (invert) img = Invert(img);
    if (l.height == 28 && l.width == 28 && options.fit != ImageFit::kResize) {
      img = options.fit == ImageFit::kMnist ? FitInk(img, 28, 20, true) : FitInk(img, 28, 28, false);
    } else {
      img = Resize(img, l.width, l.height);
    }
  } else {
    img = image;
    if (img.channels == 1) {  // gray into a colour model: replicate
      Image rgb;
      rgb.width = img.width, rgb.height = img.height, rgb.channels = 3;
      rgb.pixels.resize(img.pixels.size() * 3);
      for (size_t i = 0; i < img.pixels.size(); ++i) std::fill_n(rgb.pixels.data() + 3 * i, 3, img.pixels[i]);
      img = std::move(rgb);
    }
    img = Resize(img, l.width, l.height);
  }
  Dims dims = input_dims;
  dims[0] = 1;
  Tensor t(proto::DT_FLOAT, dims);
  float* out = t.mutable_data_as<float>();
  const int64_t hw = l.height * l.width;
  for (int64_t i = 0; i < hw; ++i) {
    for (int c = 0; c < l.channels; ++c) {
      out[l.channels_last ? i * l.channels + c : c * hw + i] = img.pixels[i * l.channels + c];
    }
  }
  RETURN_IF_ERROR(ApplyInputPreprocessing(pre, out, hw * l.channels));
  return t;
}

StatusOr<Tensor> LoadImageInput(const std::string& path, const Dims& input_dims, const proto::InputPreprocessing& pre,
                                const ImageInputOptions& options) {
  ASSIGN_OR_RETURN(Image img, ReadImageFile(path));
  auto t = ImageToInput(img, input_dims, pre, options);
  if (!t.ok()) return t.status().WithContext(path);
  return t;
}

// ---- Output -> classes ---------------------------------------------------------------

bool IsDistribution(const float* s, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!(s[i] >= 0.0f && s[i] <= 1.0f)) return false;
    sum += s[i];
  }
  return std::fabs(sum - 1.0) <= 1e-3;
}

std::vector<ClassScore> TopK(const float* s, int64_t n, int64_t k) {
  std::vector<ClassScore> all(static_cast<size_t>(n));
  if (IsDistribution(s, n)) {
    for (int64_t i = 0; i < n; ++i) all[i] = {i, s[i]};
  } else {
    const float m = n > 0 ? *std::max_element(s, s + n) : 0.0f;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(s[i]) - m);
    for (int64_t i = 0; i < n; ++i) all[i] = {i, static_cast<float>(std::exp(static_cast<double>(s[i]) - m) / sum)};
  }
  k = std::clamp<int64_t>(k, 0, n);
  std::partial_sort(all.begin(), all.begin() + k, all.end(), [](const ClassScore& a, const ClassScore& b) {
    return a.probability != b.probability ? a.probability > b.probability : a.index < b.index;
  });
  all.resize(static_cast<size_t>(k));
  return all;
}

std::string FormatPredictions(const std::string& title, const std::vector<ClassScore>& top,
                              const std::vector<std::string>& labels) {
  std::string out = title + "\n";
  for (const ClassScore& c : top) {
    const std::string name =
        c.index < static_cast<int64_t>(labels.size()) ? labels[c.index] : "class " + std::to_string(c.index);
    char line[512];
    std::snprintf(line, sizeof(line), "  %-16s %6.2f%%  (class %lld)\n", name.c_str(), 100.0 * c.probability,
                  static_cast<long long>(c.index));
    out += line;
  }
  return out;
}

std::vector<std::string> KnownClassNames(const std::string& name) {
  if (name == "fashion-mnist" || name == "fashion") {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  }
  if (name == "mnist" || name == "digits") return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  return {};
}

}  // namespace kiln::runtime
