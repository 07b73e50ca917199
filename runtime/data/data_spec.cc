// Data specs: `kiln train --data SPEC` names a data set and, optionally, a test set.
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "runtime/data/dataset.h"
#include "runtime/data/file_util.h"
#include "runtime/data/text.h"

namespace kiln::data {
namespace {

constexpr char kSchemes[] = "fashion-mnist, mnist, idx, csv, npy, skipgram, cbow";

std::vector<std::string> SplitOn(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// "A,B" -> {A, B}; anything else is an error naming the spec.
StatusOr<std::pair<std::string, std::string>> PathPair(const std::string& text, const std::string& spec,
                                                       const char* what) {
  std::vector<std::string> parts = SplitOn(text, ',');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
    return InvalidArgument("data spec '", spec, "': expected ", what, ", got '", text, "'");
  }
  return std::make_pair(parts[0], parts[1]);
}

// The main part and the `test=` part of "MAIN[;test=TEST]".
Status SplitSections(const std::string& rest, const std::string& spec, std::string* main, std::string* test) {
  std::vector<std::string> sections = SplitOn(rest, ';');
  *main = sections[0];
  test->clear();
  for (size_t i = 1; i < sections.size(); ++i) {
    if (!StartsWith(sections[i], "test=") || !test->empty()) {
      return InvalidArgument("data spec '", spec, "': unexpected '", sections[i],
                             "' (only one ';test=...' may follow)");
    }
    *test = sections[i].substr(5);
    if (test->empty()) return InvalidArgument("data spec '", spec, "': empty test=");
  }
  return Status::Ok();
}

// Both sets of class labels count the same classes.
void ShareNumClasses(DataSplits* splits) {
  if (!splits->test || !splits->train.has_class_labels() || !splits->test->has_class_labels()) return;
  const int64_t c = std::max(splits->train.num_classes, splits->test->num_classes);
  splits->train.num_classes = splits->test->num_classes = c;
}

std::string FindMnistFile(const std::string& dir, const std::string& stem) {
  // The standard names, and the dotted variant some mirrors use.
  std::string dotted = stem;
  dotted[dotted.find('-', dotted.find('-') + 1)] = '.';
  for (const std::string& name : {stem, dotted}) {
    for (const char* ext : {"", ".gz"}) {
      std::string path = dir + "/" + name + ext;
      if (internal::IsFile(path)) return path;
    }
  }
  return "";
}

StatusOr<DataSplits> LoadMnistDir(const std::string& scheme, const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return NotFound(scheme, " data directory ", dir, ": no such directory",
                    scheme == "fashion-mnist" ? " (Debian: apt-get install dataset-fashion-mnist)" : "");
  }
  const std::string train_images = FindMnistFile(dir, "train-images-idx3-ubyte");
  const std::string train_labels = FindMnistFile(dir, "train-labels-idx1-ubyte");
  const std::string test_images = FindMnistFile(dir, "t10k-images-idx3-ubyte");
  const std::string test_labels = FindMnistFile(dir, "t10k-labels-idx1-ubyte");
  auto missing = [&](const char* stem) {
    return NotFound(dir, ": no ", stem, "[.gz] (", scheme,
                    " needs train-images-idx3-ubyte and train-labels-idx1-ubyte, and optionally "
                    "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each raw or .gz)");
  };
  if (train_images.empty()) return missing("train-images-idx3-ubyte");
  if (train_labels.empty()) return missing("train-labels-idx1-ubyte");
  if (test_images.empty() != test_labels.empty()) {
    return missing(test_images.empty() ? "t10k-images-idx3-ubyte" : "t10k-labels-idx1-ubyte");
  }
  DataSplits splits;
  ASSIGN_OR_RETURN(splits.train, LoadIdx(train_images, train_labels));
  splits.train.source = scheme + " train (" + dir + ")";
  if (!test_images.empty()) {
    ASSIGN_OR_RETURN(Dataset test, LoadIdx(test_images, test_labels));
    test.source = scheme + " test (" + dir + ")";
    splits.test = std::move(test);
  }
  ShareNumClasses(&splits);
  return splits;
}

// Rewrites the test set's class indices to the training set's, matching by class
// name (CSV string labels need not appear in the same order in both files).
Status AlignCsvClasses(const std::vector<std::string>& train_names, const std::vector<std::string>& test_names,
                       Dataset* test) {
  std::unordered_map<std::string, int64_t> index;
  for (size_t i = 0; i < train_names.size(); ++i) index.emplace(train_names[i], static_cast<int64_t>(i));
  std::vector<int64_t> remap(test_names.size());
  int64_t next = static_cast<int64_t>(train_names.size());
  for (size_t i = 0; i < test_names.size(); ++i) {
    auto it = index.find(test_names[i]);
    if (it == index.end()) {
      // Numeric classes beyond the training set's keep their index; unseen names are an error.
      if (test_names[i] != std::to_string(i)) {
        return InvalidArgument(test->source, ": class '", test_names[i], "' does not occur in the training data");
      }
      remap[i] = static_cast<int64_t>(i);
      next = std::max(next, remap[i] + 1);
    } else {
      remap[i] = it->second;
    }
  }
  int64_t* l = test->labels.mutable_data_as<int64_t>();
  for (int64_t i = 0; i < test->labels.num_elements(); ++i) l[i] = remap[l[i]];
  test->num_classes = next;
  return Status::Ok();
}

StatusOr<DataSplits> LoadCsvSpec(const std::string& rest, const std::string& spec) {
  std::string main, test_path;
  RETURN_IF_ERROR(SplitSections(rest, spec, &main, &test_path));
  std::vector<std::string> parts = SplitOn(main, ',');
  if (parts[0].empty()) return InvalidArgument("data spec '", spec, "': expected csv:PATH");
  CsvOptions options;
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& opt = parts[i];
    if (StartsWith(opt, "label=")) {
      const std::string v = opt.substr(6);
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), options.label_column);
      if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
        return InvalidArgument("data spec '", spec, "': label= needs a column number (0-based; -1 is the last), not '",
                               v, "'");
      }
    } else if (opt == "header=yes" || opt == "header") {
      options.header = CsvOptions::Header::kPresent;
    } else if (opt == "header=no") {
      options.header = CsvOptions::Header::kAbsent;
    } else if (opt == "header=auto") {
      options.header = CsvOptions::Header::kAuto;
    } else if (opt == "regression") {
      options.regression = true;
    } else {
      return InvalidArgument("data spec '", spec, "': unknown csv option '", opt,
                             "' (label=COL, header=yes|no|auto, regression)");
    }
  }
  DataSplits splits;
  std::vector<std::string> train_names, test_names;
  ASSIGN_OR_RETURN(splits.train, LoadCsv(parts[0], options, &train_names));
  if (!test_path.empty()) {
    ASSIGN_OR_RETURN(Dataset test, LoadCsv(test_path, options, &test_names));
    if (test.feature_row_elements() != splits.train.feature_row_elements()) {
      return InvalidArgument(test_path, ": ", test.feature_row_elements(), " feature columns but the training data ",
                             parts[0], " has ", splits.train.feature_row_elements());
    }
    if (test.has_class_labels() != splits.train.has_class_labels()) {
      return InvalidArgument(test_path, ": labels read as ", test.has_class_labels() ? "classes" : "numeric targets",
                             " but the training data's as ", splits.train.has_class_labels() ? "classes" : "targets",
                             " (pass regression to read both as targets)");
    }
    if (test.has_class_labels()) RETURN_IF_ERROR(AlignCsvClasses(train_names, test_names, &test));
    splits.test = std::move(test);
  }
  ShareNumClasses(&splits);
  return splits;
}

template <typename Loader>
StatusOr<DataSplits> LoadPairSpec(const std::string& rest, const std::string& spec, const char* what, Loader load) {
  std::string main, test;
  RETURN_IF_ERROR(SplitSections(rest, spec, &main, &test));
  ASSIGN_OR_RETURN(auto train_paths, PathPair(main, spec, what));
  DataSplits splits;
  ASSIGN_OR_RETURN(splits.train, load(train_paths.first, train_paths.second));
  if (!test.empty()) {
    ASSIGN_OR_RETURN(auto test_paths, PathPair(test, spec, what));
    ASSIGN_OR_RETURN(Dataset t, load(test_paths.first, test_paths.second));
    if (t.feature_row_elements() != splits.train.feature_row_elements()) {
      return InvalidArgument(t.source, ": test samples have ", t.feature_row_elements(),
                             " features but training samples have ", splits.train.feature_row_elements());
    }
    splits.test = std::move(t);
  }
  ShareNumClasses(&splits);
  return splits;
}

}  // namespace

std::string DataSpecHelp() {
  return std::string("fashion-mnist[:DIR]   Fashion-MNIST IDX files in DIR (default ") + kDefaultFashionMnistDir +
         ")\n"
         "mnist[:DIR]           MNIST file names (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],\n"
         "                      optional t10k-*); default DIR " +
         kDefaultMnistDir +
         "\n"
         "idx:IMAGES,LABELS[;test=IMAGES,LABELS]\n"
         "csv:PATH[,label=COL][,header=yes|no|auto][,regression][;test=PATH]\n"
         "npy:X,Y[;test=X,Y]    X [N, ...]: features, [N, T, F] sequences or [N, T] token ids; .npy or .npy.gz\n"
         "skipgram:TEXT[,window=5][,negatives=5][,min_count=5][,vocab=10000][,sample=0.001][,seed=1]\n"
         "                      word2vec samples from a text file or a directory of them: [N, 2 + K]\n"
         "                      ids (center, context, K noise words), targets [N, 1 + K] = (1, 0, ...)\n"
         "cbow:TEXT[,...]       the same options; [N, 2*window + 1 + K] ids (context, center, noise)\n"
         "PATH.csv              same as csv:PATH\n";
}

StatusOr<DataSplits> LoadDataSpec(const std::string& spec) {
  if (spec.empty()) return InvalidArgument("empty data spec (one of ", kSchemes, ")");
  const size_t colon = spec.find(':');
  const std::string scheme = spec.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (scheme == "fashion-mnist" || scheme == "mnist") {
    std::string dir = rest.empty() ? (scheme == "mnist" ? kDefaultMnistDir : kDefaultFashionMnistDir) : rest;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return LoadMnistDir(scheme, dir);
  }
  if (colon == std::string::npos && (EndsWith(spec, ".csv") || EndsWith(spec, ".csv.gz"))) {
    return LoadCsvSpec(spec, spec);
  }
  if (colon != std::string::npos && rest.empty()) {
    return InvalidArgument("data spec '", spec, "': nothing after '", scheme, ":'");
  }
  if (scheme == "idx") return LoadPairSpec(rest, spec, "IMAGES,LABELS", LoadIdx);
  if (scheme == "npy") return LoadPairSpec(rest, spec, "X,Y (two .npy files)", LoadNpy);
  if (scheme == "csv") return LoadCsvSpec(rest, spec);
  if (scheme == "skipgram" || scheme == "cbow") return LoadWord2VecSpec(scheme == "cbow", rest, spec);
  return InvalidArgument("unknown data spec '", spec,
                         "': ", colon == std::string::npos ? "no scheme" : "scheme '" + scheme + "' is not valid",
                         "; valid specs: fashion-mnist[:DIR], mnist[:DIR], idx:IMAGES,LABELS[;test=IMAGES,LABELS], "
                         "csv:PATH[,label=COL], npy:X,Y, skipgram:TEXT[,...], cbow:TEXT[,...], or PATH.csv");
}

}  // namespace kiln::data
