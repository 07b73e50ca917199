#include "runtime/training/summary_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>
#include <vector>

#include "runtime/session.h"
#include "runtime/training/tensorboard.pb.h"
#include "runtime/training/trainer.h"

namespace kiln::runtime {
namespace {

constexpr std::array<uint32_t, 256> MakeCrc32cTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;  // reflected Castagnoli
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrc32cTable = MakeCrc32cTable();

// TFRecord stores checksums "masked" so a CRC of data that holds CRCs stays strong.
uint32_t MaskedCrc(const void* data, size_t size) {
  const uint32_t crc = Crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

double WallTime() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

void PutLittleEndian(char* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

tensorboard::Summary::Value* NewValue(tensorboard::Event& event, int64_t step, const std::string& tag,
                                      const char* plugin) {
  event.set_wall_time(WallTime());
  event.set_step(step);
  tensorboard::Summary::Value* value = event.mutable_summary()->add_value();
  value->set_tag(tag);
  value->mutable_metadata()->mutable_plugin_data()->set_plugin_name(plugin);
  return value;
}

}  // namespace

uint32_t Crc32c(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = kCrc32cTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

StatusOr<std::unique_ptr<SummaryWriter>> SummaryWriter::Open(const std::string& logdir) {
  if (logdir.empty()) return InvalidArgument("--logdir: empty directory name");
  std::error_code ec;
  std::filesystem::create_directories(logdir, ec);
  if (ec || !std::filesystem::is_directory(logdir)) {
    return InvalidArgument(logdir, ": cannot create the log directory (", ec ? ec.message() : "not a directory", ")");
  }
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  const std::string stem = logdir + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(WallTime())) + "." +
                           host + "." + std::to_string(getpid()) + ".kiln";
  // A new file always (O_EXCL): a second writer in the same second gets the next suffix.
  std::string path = stem;
  int fd = -1;
  for (int n = 1; n <= 1000; ++n) {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0 || errno != EEXIST) break;
    path = stem + "." + std::to_string(n);
  }
  if (fd < 0) return InvalidArgument(path, ": cannot create the event file (", std::strerror(errno), ")");
  std::FILE* file = fdopen(fd, "wb");
  if (!file) {
    ::close(fd);
    return InvalidArgument(path, ": cannot open the event file");
  }
  std::unique_ptr<SummaryWriter> writer(new SummaryWriter(file, path));
  tensorboard::Event version;
  version.set_wall_time(WallTime());
  version.set_file_version("brain.Event:2");
  RETURN_IF_ERROR(writer->WriteRecord(version.SerializeAsString()));
  RETURN_IF_ERROR(writer->Flush());
  return writer;
}

SummaryWriter::~SummaryWriter() { std::fclose(file_); }

// TFRecord framing: length, masked CRC of the length, data, masked CRC of the data.
Status SummaryWriter::WriteRecord(const std::string& data) {
  char header[12];
  PutLittleEndian(header, data.size(), 8);
  PutLittleEndian(header + 8, MaskedCrc(header, 8), 4);
  char footer[4];
  PutLittleEndian(footer, MaskedCrc(data.data(), data.size()), 4);
  if (std::fwrite(header, 1, sizeof header, file_) != sizeof header ||
      std::fwrite(data.data(), 1, data.size(), file_) != data.size() ||
      std::fwrite(footer, 1, sizeof footer, file_) != sizeof footer) {
    return InvalidArgument(path_, ": write failed (", std::strerror(errno), ")");
  }
  return Status::Ok();
}

Status SummaryWriter::Flush() {
  if (std::fflush(file_) != 0) return InvalidArgument(path_, ": write failed (", std::strerror(errno), ")");
  return Status::Ok();
}

Status SummaryWriter::AddScalar(const std::string& tag, int64_t step, double value) {
  tensorboard::Event event;
  NewValue(event, step, tag, "scalars")->set_simple_value(static_cast<float>(value));
  return WriteRecord(event.SerializeAsString());
}

Status SummaryWriter::AddHistogram(const std::string& tag, int64_t step, const float* values, int64_t n, int buckets) {
  double lo = INFINITY, hi = -INFINITY, sum = 0, sum_squares = 0;
  int64_t finite = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = values[i];
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
    sum_squares += v * v;
    ++finite;
  }
  if (finite == 0) lo = hi = 0;
  buckets = std::max(1, buckets);
  const double width = hi > lo ? (hi - lo) / buckets : 1.0;
  std::vector<double> counts(buckets, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const double v = values[i];
    if (!std::isfinite(v)) continue;
    // Bucket b holds (lo + b*width, lo + (b+1)*width]; the minimum joins bucket 0.
    const int b = static_cast<int>(std::ceil((v - lo) / width)) - 1;
    counts[std::clamp(b, 0, buckets - 1)] += 1;
  }
  tensorboard::Event event;
  tensorboard::HistogramProto* h = NewValue(event, step, tag, "histograms")->mutable_histo();
  h->set_min(lo);
  h->set_max(hi);
  h->set_num(static_cast<double>(finite));
  h->set_sum(sum);
  h->set_sum_squares(sum_squares);
  for (int b = 0; b < buckets; ++b) {
    h->add_bucket_limit(b + 1 == buckets ? hi : lo + (b + 1) * width);
    h->add_bucket(counts[b]);
  }
  return WriteRecord(event.SerializeAsString());
}

Status SummaryWriter::AddText(const std::string& tag, int64_t step, const std::string& text) {
  tensorboard::Event event;
  tensorboard::TensorProto* t = NewValue(event, step, tag, "text")->mutable_tensor();
  t->set_dtype(7);  // DT_STRING
  t->add_string_val(text);
  return WriteRecord(event.SerializeAsString());
}

}  // namespace kiln::runtime

namespace kiln::runtime {

StatusOr<std::unique_ptr<TrainingLog>> TrainingLog::Open(const std::string& logdir, const Session& step,
                                                         const Session& eval, double learning_rate,
                                                         const std::string& command) {
  std::unique_ptr<TrainingLog> log(new TrainingLog());
  ASSIGN_OR_RETURN(log->train_, SummaryWriter::Open(logdir + "/train"));
  ASSIGN_OR_RETURN(log->validation_, SummaryWriter::Open(logdir + "/validation"));
  log->step_ = &step;
  log->learning_rate_ = learning_rate;
  std::set<std::string> shared;
  for (int i = 0; i < eval.num_states(); ++i) shared.insert(eval.state_desc(i).name());
  for (int i = 0; i < step.num_states(); ++i) {
    if (shared.count(step.state_desc(i).name()) && step.state(i).dtype == proto::DT_FLOAT) {
      log->parameter_states_.push_back(i);
    }
  }
  for (int i = 2; i < step.num_outputs(); ++i) {  // "<parameter>/gradient" outputs, when compiled with them
    if (step.output(i).dtype == proto::DT_FLOAT) log->gradient_outputs_.push_back(i);
  }
  RETURN_IF_ERROR(log->train_->AddText("command", 0, "`" + command + "`"));
  RETURN_IF_ERROR(log->train_->Flush());
  return log;
}

void TrainingLog::Attach(TrainerOptions& options) {
  options.on_step = [this](int64_t step, double loss, double accuracy) { return OnStep(step, loss, accuracy); };
  options.on_epoch = [this](const EpochStats& e) {
    return OnEpoch(e.epoch, e.loss, e.accuracy, e.val_loss, e.val_accuracy);
  };
}

Status TrainingLog::OnStep(int64_t step, double loss, double accuracy) {
  last_step_ = step;
  RETURN_IF_ERROR(train_->AddScalar("batch_loss", step, loss));
  if (accuracy >= 0) RETURN_IF_ERROR(train_->AddScalar("batch_accuracy", step, accuracy));
  return Status::Ok();
}

Status TrainingLog::OnEpoch(int64_t epoch, double loss, double accuracy, double val_loss, double val_accuracy) {
  RETURN_IF_ERROR(train_->AddScalar("epoch_loss", epoch, loss));
  if (accuracy >= 0) RETURN_IF_ERROR(train_->AddScalar("epoch_accuracy", epoch, accuracy));
  RETURN_IF_ERROR(train_->AddScalar("epoch_learning_rate", epoch, learning_rate_));
  for (int i : parameter_states_) {
    const TensorRef w = step_->state(i);
    RETURN_IF_ERROR(
        train_->AddHistogram("weights/" + step_->state_desc(i).name(), epoch, w.as<float>(), w.num_elements()));
  }
  for (int i : gradient_outputs_) {  // the epoch's last step
    const TensorRef g = step_->output(i);
    std::string name = step_->output_desc(i).name();
    name = name.substr(0, name.rfind("/gradient"));
    RETURN_IF_ERROR(train_->AddHistogram("gradients/" + name, epoch, g.as<float>(), g.num_elements()));
  }
  if (val_loss >= 0) RETURN_IF_ERROR(validation_->AddScalar("epoch_loss", epoch, val_loss));
  if (val_accuracy >= 0) RETURN_IF_ERROR(validation_->AddScalar("epoch_accuracy", epoch, val_accuracy));
  RETURN_IF_ERROR(train_->Flush());
  return validation_->Flush();
}

}  // namespace kiln::runtime
