// `kiln embeddings`: the word vectors of a model trained on a word2vec data spec —
// nearest neighbours by cosine similarity, and the vectors in word2vec's text format.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "frontends/load_model.h"
#include "ir/core/file_io.h"
#include "runtime/data/text.h"
#include "tools/kiln/args.h"
#include "tools/kiln/commands.h"

namespace kiln::cli {
namespace {

constexpr char kEmbeddingsHelp[] = R"(Usage: kiln embeddings MODEL [options]

Reads the word vectors of MODEL, trained on a word2vec data spec (skipgram:TEXT,...
or cbow:TEXT,...), labels the table's rows with that spec's vocabulary (rebuilt
from the text: ids by frequency), prints the nearest neighbours of some words by
cosine similarity and can write every vector in word2vec's text format.

Options:
  --table NAME      the embedding table (default: the first [V, D] initializer a Gather
                    reads: the input-side vectors)
  --data SPEC       the word2vec data spec (default: the model's training data)
  --nearest W1,...  words whose neighbours to print (default: the 5 most frequent)
  --top K           neighbours per word (default 8)
  --pairs A:B,...   related word pairs: B's rank among A's neighbours (1 = nearest), and
                    their median: a measure of how much the vectors learnt
  -o FILE           write "V D" and then "word v1 ... vD" per line (word2vec text format)
  -h, --help        show this help

Examples:
  kiln train examples/word2vec_skipgram.kiln.txt -o w2v.kiln
  kiln embeddings w2v.kiln --nearest man,day,love,computer -o vectors.txt
)";

// The default table: the first rank-2 float initializer that a Gather reads rows of.
std::string FindTable(const Graph& graph) {
  for (const Node* node : graph.NodeList()) {
    if (node->op_type() != "Gather" || node->num_inputs() < 2 || !node->input(0)) continue;
    const Value* table = node->input(0);
    if (table->is_constant() && table->dtype() == proto::DT_FLOAT && table->dims().size() == 2) return table->name();
  }
  return "";
}

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

struct Neighbour {
  double similarity;
  int64_t id;
};

// The `top` rows most similar to row `query` by cosine (the row itself excluded).
std::vector<Neighbour> Nearest(const float* vectors, int64_t rows, int64_t dim, int64_t query, int64_t top) {
  std::vector<double> norms(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t d = 0; d < dim; ++d) s += static_cast<double>(vectors[r * dim + d]) * vectors[r * dim + d];
    norms[static_cast<size_t>(r)] = std::sqrt(s);
  }
  std::vector<Neighbour> all;
  for (int64_t r = 0; r < rows; ++r) {
    if (r == query) continue;
    double dot = 0;
    for (int64_t d = 0; d < dim; ++d) dot += static_cast<double>(vectors[r * dim + d]) * vectors[query * dim + d];
    const double denominator = norms[static_cast<size_t>(r)] * norms[static_cast<size_t>(query)];
    all.push_back({denominator > 0 ? dot / denominator : 0.0, r});
  }
  const size_t n = std::min(all.size(), static_cast<size_t>(top));
  std::partial_sort(all.begin(), all.begin() + static_cast<long>(n), all.end(),
                    [](const Neighbour& a, const Neighbour& b) { return a.similarity > b.similarity; });
  all.resize(n);
  return all;
}

// The rank of row `other` among row `query`'s neighbours by cosine similarity (1: nearest).
int64_t Rank(const float* vectors, int64_t rows, int64_t dim, int64_t query, int64_t other) {
  const std::vector<Neighbour> all = Nearest(vectors, rows, dim, query, rows);
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].id == other) return static_cast<int64_t>(i) + 1;
  }
  return rows;
}

using WordPairs = std::vector<std::pair<std::string, std::string>>;

// "man:woman,day:night" -> {{man, woman}, {day, night}}.
StatusOr<WordPairs> ParsePairs(const std::string& text) {
  WordPairs pairs;
  for (const std::string& pair : SplitCommas(text)) {
    const size_t colon = pair.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == pair.size()) {
      return InvalidArgument("--pairs: '", pair, "' is not A:B");
    }
    pairs.emplace_back(pair.substr(0, colon), pair.substr(colon + 1));
  }
  if (pairs.empty()) return InvalidArgument("--pairs: no pairs (A:B,C:D,...)");
  return pairs;
}

// Each pair's rank, then the median.
Status PrintPairRanks(const WordPairs& pairs, const data::Vocabulary& vocabulary, const float* vectors, int64_t dim) {
  std::vector<int64_t> ranks;
  for (const auto& [a, b] : pairs) {
    const int64_t ia = vocabulary.Id(a), ib = vocabulary.Id(b);
    if (ia < 0 || ib < 0) {
      std::printf("%s ~ %s: '%s' is not in the vocabulary\n", a.c_str(), b.c_str(), (ia < 0 ? a : b).c_str());
      continue;
    }
    ranks.push_back(Rank(vectors, vocabulary.size(), dim, ia, ib));
    std::printf("%s ~ %s: rank %lld of %lld\n", a.c_str(), b.c_str(), static_cast<long long>(ranks.back()),
                static_cast<long long>(vocabulary.size() - 1));
  }
  if (ranks.empty()) return InvalidArgument("--pairs: no pair with both words in the vocabulary");
  std::sort(ranks.begin(), ranks.end());
  const int64_t in_top10 = std::count_if(ranks.begin(), ranks.end(), [](int64_t r) { return r <= 10; });
  std::printf("Pairs: %zu, median rank %lld, %lld in the top 10\n", ranks.size(),
              static_cast<long long>(ranks[ranks.size() / 2]), static_cast<long long>(in_top10));
  return Status::Ok();
}

std::string Word2VecText(const data::Vocabulary& vocabulary, const float* vectors, int64_t dim) {
  std::string out = std::to_string(vocabulary.size()) + " " + std::to_string(dim) + "\n";
  char number[32];
  for (int64_t r = 0; r < vocabulary.size(); ++r) {
    out += vocabulary.words[static_cast<size_t>(r)];
    for (int64_t d = 0; d < dim; ++d) {
      std::snprintf(number, sizeof(number), " %.6g", vectors[r * dim + d]);
      out += number;
    }
    out += "\n";
  }
  return out;
}

}  // namespace

int EmbeddingsCommand(const std::vector<std::string>& args) {
  ArgSpec spec{"embeddings", {}, {"--table", "--data", "--nearest", "--top", "--pairs", "-o"}, {}};
  auto parsed = ParseArgs(args, spec);
  if (!parsed.ok()) return ReportUsageError("embeddings", parsed.status().message());
  if (parsed->help) {
    std::fputs(kEmbeddingsHelp, stdout);
    return kExitOk;
  }
  if (parsed->positional.size() != 1) return ReportUsageError("embeddings", "expected one MODEL");
  int64_t top = 8;
  if (parsed->options.count("--top")) {
    auto n = ParsePositiveInt("--top", parsed->Get("--top"));
    if (!n.ok()) return ReportUsageError("embeddings", n.status().message());
    top = *n;
  }
  WordPairs pairs;
  if (parsed->options.count("--pairs")) {
    auto p = ParsePairs(parsed->Get("--pairs"));
    if (!p.ok()) return ReportUsageError("embeddings", p.status().message());
    pairs = std::move(p).value();
  }
  const std::string path = parsed->positional[0];
  const std::string out = parsed->Get("-o");
  if (!out.empty()) {
    Status writable = CheckDistinctPaths({{"model", path}}, {{"-o", out}});
    if (writable.ok()) writable = CheckOutputPath(out);
    if (!writable.ok()) return ReportError(writable);
  }
  auto model = LoadModel(path);
  if (!model.ok()) return ReportError(model.status());
  const std::string data_spec = parsed->Get("--data", model->training.data());
  if (data_spec.empty()) {
    return ReportError(InvalidArgument(path, ": no training data in the model; pass --data skipgram:TEXT,..."));
  }
  auto vocabulary = data::Word2VecVocabulary(data_spec);
  if (!vocabulary.ok()) return ReportError(vocabulary.status());
  const std::string table_name = parsed->Get("--table", FindTable(*model->graph));
  const Value* table = table_name.empty() ? nullptr : model->graph->FindValue(table_name);
  if (!table || !table->is_constant() || table->dtype() != proto::DT_FLOAT || table->dims().size() != 2) {
    return ReportError(InvalidArgument(path, ": ",
                                       table_name.empty()
                                           ? "no embedding table (a [V, D] float initializer read by a Gather)"
                                           : "'" + table_name + "' is not a [V, D] float initializer"));
  }
  const int64_t rows = table->dims()[0], dim = table->dims()[1];
  if (rows < vocabulary->size()) {
    return ReportError(InvalidArgument(path, ": table '", table_name, "' has ", rows, " rows but the vocabulary of '",
                                       data_spec, "' has ", vocabulary->size(), " words"));
  }
  const float* vectors = table->constant().data_as<float>();
  std::vector<std::string> queries = SplitCommas(parsed->Get("--nearest"));
  for (int64_t i = 0; queries.empty() && i < std::min<int64_t>(5, vocabulary->size()); ++i) {
    queries.push_back(vocabulary->words[static_cast<size_t>(i)]);
  }
  std::printf("%lld words, %lld-dimensional vectors ('%s')\n", static_cast<long long>(vocabulary->size()),
              static_cast<long long>(dim), table_name.c_str());
  for (const std::string& word : queries) {
    const int64_t id = vocabulary->Id(word);
    if (id < 0) {
      std::printf("%s: not in the vocabulary\n", word.c_str());
      continue;
    }
    std::printf("%s:", word.c_str());
    for (const Neighbour& n : Nearest(vectors, vocabulary->size(), dim, id, top)) {
      std::printf(" %s (%.2f)", vocabulary->words[static_cast<size_t>(n.id)].c_str(), n.similarity);
    }
    std::printf("\n");
  }
  if (!pairs.empty()) {
    Status ranked = PrintPairRanks(pairs, *vocabulary, vectors, dim);
    if (!ranked.ok()) return ReportError(ranked);
  }
  if (!out.empty()) {
    Status written = WriteFileAtomically(out, Word2VecText(*vocabulary, vectors, dim));
    if (!written.ok()) return ReportError(written);
    std::printf("Wrote %s\n", out.c_str());
  }
  return kExitOk;
}

}  // namespace kiln::cli
