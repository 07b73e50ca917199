// The kiln subcommands. Each takes the arguments after its name and returns the
// process exit code (see tools/kiln/args.h).
#pragma once

#include <string>
#include <vector>

#include "ir/core/status.h"
#include "ir/kiln.pb.h"

namespace kiln::cli {

/// `kiln run MODEL --input [NAME=]FILE ...`: compile a model and run it once.
int RunCommand(const std::vector<std::string>& args);
/// `kiln dump MODEL`: print the graph after the inference pipeline (text or DOT).
int DumpCommand(const std::vector<std::string>& args);
/// `kiln train MODEL --data SPEC`: compile the training step and train.
int TrainCommand(const std::vector<std::string>& args);
/// `kiln predict MODEL --image FILE`: classify images, print the top-K classes.
int PredictCommand(const std::vector<std::string>& args);
/// `kiln gradcheck MODEL`: autodiff against finite differences.
int GradcheckCommand(const std::vector<std::string>& args);
/// `kiln compile MODEL -o NAME --emit exe|lib|obj|plan`: ahead-of-time compilation.
int CompileCommand(const std::vector<std::string>& args);
/// `kiln bench MODEL`: compile time, Session::Run latency, arena size and peak RSS.
int BenchCommand(const std::vector<std::string>& args);
/// `kiln embeddings MODEL`: a word2vec model's nearest neighbours and vectors.
int EmbeddingsCommand(const std::vector<std::string>& args);

/// A training block's values in range and its names (loss, optimizer, preprocessing,
/// monitor, metrics) known: what `kiln train` and the Python package's Model.compile accept.
Status CheckTrainingSpec(const proto::TrainingSpec& spec);

}  // namespace kiln::cli
