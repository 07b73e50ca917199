#include "ir/model_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "ir/core/resource_limits.h"

namespace kiln {

static bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool IsTextModelPath(const std::string& path) {
  return EndsWith(path, ".txt") || EndsWith(path, ".pbtxt") || EndsWith(path, ".textproto");
}

// Bounded while reading (ir/core/resource_limits.h): a FIFO or /dev/zero cannot grow memory.
StatusOr<std::string> ReadFile(const std::string& path) { return ReadFileBounded(path); }

namespace {
// Collects text-format parse errors with line numbers.
class TextErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) first_ = "line " + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};
}  // namespace

StatusOr<proto::Model> ReadModelProto(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  proto::Model model;
  if (IsTextModelPath(path)) {
    google::protobuf::TextFormat::Parser parser;
    TextErrorCollector errors;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFromString(bytes, &model)) {
      return InvalidArgument(path, ":", errors.first().empty() ? " not a valid Kiln text model" : errors.first());
    }
    return model;
  }
  if (bytes.empty()) return InvalidArgument(path, ": empty file, not a Kiln model");
  if (!model.ParseFromString(bytes)) {
    return InvalidArgument(path, ": not a valid Kiln model (corrupt or truncated protobuf)");
  }
  return model;
}

StatusOr<std::string> SerializeModelProto(const proto::Model& model, const std::string& path, ModelFormat format) {
  std::string bytes;
  if (format == ModelFormat::kKilnText) {
    if (!google::protobuf::TextFormat::PrintToString(model, &bytes)) return Internal(path, ": cannot print model");
  } else if (format == ModelFormat::kKilnBinary) {
    if (!model.SerializeToString(&bytes)) return Internal(path, ": cannot serialize model");
  } else {
    return InvalidArgument(path, ": not a Kiln model format (.kiln or .kiln.txt)");
  }
  return bytes;
}

Status WriteModelProto(const proto::Model& model, const std::string& path) {
  ASSIGN_OR_RETURN(ModelFormat format, ModelFormatForOutput(path));
  ASSIGN_OR_RETURN(std::string bytes, SerializeModelProto(model, path, format));
  return WriteFileAtomically(path, bytes);
}

proto::Model ModelToProto(const Graph& graph, const proto::TrainingSpec& training) {
  proto::Model m;
  m.set_ir_version(1);
  m.set_producer("kiln");
  graph.ToProto(m.mutable_graph());
  *m.mutable_training() = training;
  return m;
}

}  // namespace kiln
