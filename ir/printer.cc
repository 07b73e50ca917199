#include "ir/printer.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

namespace kiln {

std::string FormatCount(int64_t count) {
  std::string digits = std::to_string(count < 0 ? -count : count);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return count < 0 ? "-" + out : out;
}

std::string FormatBytes(int64_t bytes) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  int unit = -1;
  while (v >= 1024.0 && unit < 3) {
    v /= 1024.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[unit]);
  return buf;
}

namespace {

std::string DimString(const Value& value, size_t i) {
  int64_t d = value.dims()[i];
  return d >= 0 ? std::to_string(d) : value.DimSymbol(static_cast<int>(i));
}

std::string ShapeString(const Value& value) {
  if (!value.has_type()) return "?";
  std::string s = "[";
  for (size_t i = 0; i < value.dims().size(); ++i) s += (i ? ", " : "") + DimString(value, i);
  return s + "]";
}

std::string Ref(const Value* v) { return v ? "%" + v->name() : "_"; }

// Elements of the constant inputs of `node` (each distinct constant once).
// A weight: a float constant (integer constants are shapes, axes, indices).
bool IsWeight(const Value* v) {
  if (!v || !v->is_constant()) return false;
  const DType t = v->constant().dtype();
  return t == proto::DT_FLOAT || t == proto::DT_DOUBLE || t == proto::DT_FLOAT16;
}

int64_t NodeParamCount(const Node& node) {
  std::set<const Value*> seen;
  int64_t count = 0;
  for (const Value* in : node.inputs()) {
    if (IsWeight(in) && seen.insert(in).second) count += in->constant().num_elements();
  }
  return count;
}

// A constant's values when tiny (shape operands, Dropout ratios), so the listing
// shows what a Reshape really reshapes to.
std::string SmallConstantValues(const Value& v) {
  const Tensor& t = v.constant();
  if (t.num_elements() > 8) return "";
  std::ostringstream os;
  os << " = [";
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    os << (i ? ", " : "");
    if (IsFloatingType(t.dtype())) {
      os << t.GetAsDouble(i);
    } else {
      os << t.GetAsInt64(i);
    }
  }
  os << "]";
  return os.str();
}

std::string PadRight(const std::string& s, size_t width) {
  return s.size() >= width ? s + "  " : s + std::string(width - s.size() + 2, ' ');
}

void PrintParamTable(const Graph& graph, std::ostringstream& os) {
  struct Row {
    std::string node, shape, params;
  };
  std::vector<Row> rows;
  rows.push_back({"Node (op)", "Output shape", "Params"});
  for (const auto& node : graph.nodes()) {
    std::string shapes;
    for (int i = 0; i < node->num_outputs(); ++i) shapes += (i ? ", " : "") + ShapeString(*node->output(i));
    rows.push_back({node->Label(), shapes, FormatCount(NodeParamCount(*node))});
  }
  size_t w0 = 0, w1 = 0, w2 = 0;
  for (const auto& r : rows) {
    w0 = std::max(w0, r.node.size());
    w1 = std::max(w1, r.shape.size());
    w2 = std::max(w2, r.params.size());
  }
  const size_t total_width = w0 + 2 + w1 + 2 + w2;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    os << PadRight(r.node, w0) << PadRight(r.shape, w1) << std::string(w2 - r.params.size(), ' ') << r.params << "\n";
    if (i == 0) os << std::string(total_width, '=') << "\n";
  }
  os << std::string(total_width, '=') << "\n";

  const auto [total, total_bytes, trainable, trainable_bytes] = CountParams(graph);
  os << "Total params: " << FormatCount(total) << " (" << FormatBytes(total_bytes) << ")\n";
  if (trainable != total) {
    os << "Trainable params: " << FormatCount(trainable) << " (" << FormatBytes(trainable_bytes) << ")\n";
    os << "Non-trainable params: " << FormatCount(total - trainable) << " ("
       << FormatBytes(total_bytes - trainable_bytes) << ")\n";
  }
}

}  // namespace

ParamCounts CountParams(const Graph& graph) {
  // Each constant once, however many nodes read it.
  std::set<const Value*> used;
  for (const auto& node : graph.nodes()) {
    for (const Value* in : node->inputs()) {
      if (in && in->is_constant()) used.insert(in);
    }
  }
  for (const Value* out : graph.outputs()) {
    if (out && out->is_constant()) used.insert(out);
  }
  ParamCounts c;
  for (const Value* v : used) {
    if (!IsWeight(v)) continue;
    c.total += v->constant().num_elements();
    c.total_bytes += v->constant().num_bytes();
    if (v->is_parameter()) {
      c.trainable += v->constant().num_elements();
      c.trainable_bytes += v->constant().num_bytes();
    }
  }
  return c;
}

std::string ValueTypeString(const Value& value) {
  if (!value.has_type()) return "?";
  return DTypeName(value.dtype()) + ShapeString(value);
}

std::string PrintGraph(const Graph& graph) {
  std::ostringstream os;
  os << "graph " << graph.name() << "\n";
  os << "inputs:\n";
  for (const Value* in : graph.inputs()) os << "  %" << in->name() << ": " << ValueTypeString(*in) << "\n";

  // Constants that nodes read, in creation order: trainable parameters, then the rest.
  std::set<const Value*> read;
  for (const auto& node : graph.nodes()) read.insert(node->inputs().begin(), node->inputs().end());
  read.insert(graph.outputs().begin(), graph.outputs().end());
  std::vector<const Value*> params, others;
  for (const Value* v : graph.values()) {
    if (!v->is_constant() || v->producer() || !read.count(v)) continue;
    (v->is_parameter() ? params : others).push_back(v);
  }
  if (!params.empty()) {
    os << "parameters:\n";
    for (const Value* v : params) os << "  %" << v->name() << ": " << ValueTypeString(*v) << "\n";
  }
  if (!others.empty()) {
    os << "constants:\n";
    for (const Value* v : others)
      os << "  %" << v->name() << ": " << ValueTypeString(*v) << SmallConstantValues(*v) << "\n";
  }

  if (!graph.states().empty()) {
    // Training state: persists across runs; "<- %x" names the value it takes after each run.
    os << "state:\n";
    for (const StateVar& st : graph.states()) {
      os << "  %" << st.value->name() << ": " << ValueTypeString(*st.value);
      if (st.update) os << " <- %" << st.update->name();
      os << "\n";
    }
  }

  os << "nodes:\n";
  for (const auto& node : graph.nodes()) {
    std::string lhs, types, args;
    for (int i = 0; i < node->num_outputs(); ++i) {
      lhs += (i ? ", " : "") + Ref(node->output(i));
      types += (i ? ", " : "") + ValueTypeString(*node->output(i));
    }
    for (int i = 0; i < node->num_inputs(); ++i) args += (i ? ", " : "") + Ref(node->input(i));
    os << "  " << (lhs.empty() ? "()" : lhs) << " = " << node->op_type() << "(" << args << ")";
    std::string attrs = node->attrs().ToString();
    if (!attrs.empty()) os << " {" << attrs << "}";
    os << " : " << (types.empty() ? "()" : types);
    // Errors name nodes, so show a node's name when its output does not already say it.
    if (node->num_outputs() != 1 || node->output(0)->name() != node->name()) os << "  # " << node->name();
    os << "\n";
  }
  os << "outputs:\n";
  for (const Value* out : graph.outputs())
    os << "  " << Ref(out) << ": " << (out ? ValueTypeString(*out) : "?") << "\n";
  os << "\n";
  PrintParamTable(graph, os);
  return os.str();
}

namespace {

// Escapes text for a double-quoted DOT string; "\n" in the result is a DOT line break.
std::string DotEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': break;
      default:
        // Control characters would break the lexer; drop them.
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
  }
  return out;
}

std::string DotLabel(const std::vector<std::string>& lines) {
  std::string label;
  for (size_t i = 0; i < lines.size(); ++i) label += (i ? "\\n" : "") + DotEscape(lines[i]);
  return "\"" + label + "\"";
}

}  // namespace

std::string PrintDot(const Graph& graph, const DotNodeVisitor& visit) {
  std::ostringstream os;
  os << "digraph \"" << DotEscape(graph.name()) << "\" {\n";
  os << "  rankdir=TB;\n";
  os << "  node [fontname=\"Helvetica\", fontsize=10];\n";
  os << "  edge [fontname=\"Helvetica\", fontsize=9];\n";

  // Where each value comes from: a DOT node id (graph input, constant, or op node).
  std::unordered_map<const Value*, std::string> source;
  int index = 0;
  for (const Value* in : graph.inputs()) {
    std::string id = "input" + std::to_string(index++);
    source[in] = id;
    if (visit.value) visit.value(id, "input", *in);
    os << "  " << id << " [id=\"" << id << "\", shape=ellipse, style=filled, fillcolor=\"#c8e6c9\", label="
       << DotLabel({"input", in->name(), ValueTypeString(*in)}) << "];\n";
  }
  index = 0;
  for (const auto& node : graph.nodes()) {
    for (const Value* in : node->inputs()) {
      if (!in || !in->is_constant() || in->producer() || source.count(in)) continue;
      std::string id = "const" + std::to_string(index++);
      source[in] = id;
      const char* color = in->is_parameter() ? "#eeeeee" : "#fff9c4";
      if (visit.value) visit.value(id, in->is_parameter() ? "param" : "const", *in);
      os << "  " << id << " [id=\"" << id << "\", shape=note, style=filled, fillcolor=\"" << color
         << "\", label=" << DotLabel({in->is_parameter() ? "param" : "const", in->name(), ValueTypeString(*in)})
         << "];\n";
    }
  }
  index = 0;
  for (const auto& node : graph.nodes()) {
    std::string id = "node" + std::to_string(index++);
    std::string shapes;
    for (int i = 0; i < node->num_outputs(); ++i) shapes += (i ? ", " : "") + ShapeString(*node->output(i));
    if (visit.op) visit.op(id, *node);
    os << "  " << id << " [id=\"" << id << "\", shape=box, style=\"rounded,filled\", fillcolor=\"#bbdefb\", label="
       << DotLabel({node->op_type(), node->name(), shapes}) << "];\n";
    for (const Value* in : node->inputs()) {
      if (!in) continue;
      auto it = source.find(in);
      if (it == source.end()) continue;  // dangling reference: the verifier reports it
      os << "  " << it->second << " -> " << id << " [label=" << DotLabel({ShapeString(*in)}) << "];\n";
    }
    for (const Value* out : node->outputs()) source[out] = id;
  }
  index = 0;
  for (const Value* out : graph.outputs()) {
    if (!out) continue;
    std::string id = "output" + std::to_string(index++);
    if (visit.value) visit.value(id, "output", *out);
    os << "  " << id << " [id=\"" << id << "\", shape=ellipse, style=filled, fillcolor=\"#ffe0b2\", label="
       << DotLabel({"output", out->name(), ValueTypeString(*out)}) << "];\n";
    auto it = source.find(out);
    if (it == source.end() && out->is_constant()) {
      // An output folded to a constant at compile time.
      if (visit.value) visit.value(id + "_value", "const", *out);
      os << "  " << id << "_value [id=\"" << id << "_value\", shape=note, style=filled, fillcolor=\"#fff9c4\", label="
         << DotLabel({"const", out->name(), ValueTypeString(*out)}) << "];\n";
      it = source.emplace(out, id + "_value").first;
    }
    if (it != source.end())
      os << "  " << it->second << " -> " << id << " [label=" << DotLabel({ShapeString(*out)}) << "];\n";
  }
  os << "}\n";
  return os.str();
}

}  // namespace kiln
