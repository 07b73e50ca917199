#include "tools/kiln/graph_html.h"

#include <cstdio>
#include <map>

#include "compiler/aot/compile_support.h"
#include "ir/core/file_io.h"
#include "ir/core/resource_limits.h"
#include "ir/printer.h"

namespace kiln::cli {
namespace {

using aot::FindTool;
using aot::RunTool;
using aot::TempDir;

// A JSON string literal that is also safe inside <script> ("</" never appears).
std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = s[i];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '/': out += (i > 0 && s[i - 1] == '<') ? "\\/" : "/"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

int64_t ParameterCount(const Value& v) { return v.is_parameter() ? ElementCount(v.dims()) : 0; }

// {"name": ..., "type": ..., "buffer": ...} for a value.
std::string ValueJson(const Value& v, const std::map<std::string, const MemoryReport::Row*>& buffers) {
  std::string json = "{\"name\":" + JsonString(v.name()) + ",\"type\":" + JsonString(ValueTypeString(v));
  if (v.is_parameter()) json += ",\"parameter\":true";
  if (auto it = buffers.find(v.name()); it != buffers.end()) {
    const MemoryReport::Row& r = *it->second;
    json +=
        ",\"buffer\":" + JsonString(r.kind + ", " + FormatBytes(r.bytes) + " at offset " + std::to_string(r.offset) +
                                    ", live steps " + std::to_string(r.first_step) + "-" + std::to_string(r.last_step));
  }
  return json + "}";
}

StatusOr<std::string> RenderSvg(const std::string& dot) {
  ASSIGN_OR_RETURN(std::string program, FindTool("KILN_DOT", "dot"));
  TempDir tmp;
  if (!tmp.ok()) return Internal("cannot create a temporary directory");
  const std::string in = tmp.path() + "/graph.dot", out = tmp.path() + "/graph.svg";
  RETURN_IF_ERROR(WriteFileAtomically(in, dot));
  RETURN_IF_ERROR(RunTool({program, "-Tsvg", in, "-o", out}, "Graphviz layout"));
  ASSIGN_OR_RETURN(std::string svg, ReadFileBounded(out));
  // Inline: drop the XML declaration, DOCTYPE and comments before <svg.
  const size_t start = svg.find("<svg");
  if (start == std::string::npos) return Internal("Graphviz wrote no SVG");
  return svg.substr(start);
}

constexpr char kPageHead[] = R"html(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>@TITLE@ — kiln dump</title>
<style>
body{margin:0;font:13px/1.4 system-ui,sans-serif;display:flex;height:100vh;color:#222}
#main{flex:1;display:flex;flex-direction:column;min-width:0}
#bar{padding:6px 10px;border-bottom:1px solid #ccc;display:flex;gap:8px;align-items:center;background:#fafafa}
#bar h1{font-size:15px;margin:0 12px 0 0}
#search{width:260px;padding:3px 6px}
#matches{color:#666}
#graph{flex:1;overflow:auto}
#graph svg{display:block}
#graph g.node{cursor:pointer}
#graph g.node.selected polygon,#graph g.node.selected ellipse,#graph g.node.selected path{stroke:#d32f2f;stroke-width:3}
#graph g.node.match polygon,#graph g.node.match ellipse,#graph g.node.match path{stroke:#f9a825;stroke-width:3}
#details{width:360px;border-left:1px solid #ccc;padding:10px;overflow:auto;background:#fcfcfc}
#details h2{font-size:14px;margin:0 0 4px}
#details table{border-collapse:collapse;width:100%}
#details td{border-top:1px solid #eee;padding:2px 4px;vertical-align:top;word-break:break-all}
.muted{color:#777}
</style></head><body>
<div id="main"><div id="bar"><h1>@TITLE@</h1>
<input id="search" type="search" placeholder="Search ops and names (Enter: next)">
<span id="matches"></span><button id="zoomout">−</button><button id="zoomin">+</button>
<span class="muted">@SUMMARY@</span></div>
<div id="graph">
)html";

constexpr char kPageTail[] = R"html(</div></div>
<div id="details"><p class="muted">Click a node to see its op, attributes, inputs and outputs.</p></div>
<script>
"use strict";
const info = JSON.parse(document.getElementById("kiln-graph").textContent);
const panel = document.getElementById("details");
const nodes = [...document.querySelectorAll("#graph g.node")].filter(g => info[g.id]);
function esc(s) { const d = document.createElement("div"); d.textContent = s; return d.innerHTML; }
function rows(values) {
  return values.map(v => "<tr" + (v.parameter ? " class=parameter" : "") + "><td>" + esc(v.name) +
    (v.parameter ? " <span class=muted>(parameter)</span>" : "") + "</td><td>" + esc(v.type) +
    (v.buffer ? "<br><span class=muted>" + esc(v.buffer) + "</span>" : "") + "</td></tr>").join("");
}
function show(id) {
  const n = info[id];
  nodes.forEach(g => g.classList.toggle("selected", g.id === id));
  let html = "<h2 id=detail-title>" + esc(n.op || n.kind) + "</h2><div id=detail-name>" + esc(n.name) + "</div>";
  if (n.type) html += "<div>" + esc(n.type) + "</div>";
  if (n.params) html += "<div id=detail-params>parameters: " + n.params.toLocaleString("en-US") + "</div>";
  if (n.attrs) html += "<h3>Attributes</h3><div id=detail-attrs>" + esc(n.attrs) + "</div>";
  if (n.inputs) html += "<h3>Inputs</h3><table id=detail-inputs>" + rows(n.inputs) + "</table>";
  if (n.outputs) html += "<h3>Outputs</h3><table id=detail-outputs>" + rows(n.outputs) + "</table>";
  if (n.buffer) html += "<h3>Buffer</h3><div>" + esc(n.buffer) + "</div>";
  panel.innerHTML = html;
}
nodes.forEach(g => g.addEventListener("click", () => show(g.id)));
let found = [], current = -1;
const search = document.getElementById("search"), count = document.getElementById("matches");
search.addEventListener("input", () => {
  const q = search.value.trim().toLowerCase();
  found = q ? nodes.filter(g => ((info[g.id].op || "") + " " + info[g.id].name).toLowerCase().includes(q)) : [];
  nodes.forEach(g => g.classList.toggle("match", found.includes(g)));
  current = -1;
  count.textContent = q ? found.length + " match" + (found.length === 1 ? "" : "es") : "";
});
search.addEventListener("keydown", e => {
  if (e.key !== "Enter" || !found.length) return;
  current = (current + 1) % found.length;
  found[current].scrollIntoView({block: "center", inline: "center"});
  show(found[current].id);
});
const svg = document.querySelector("#graph svg");
let scale = 1;
const baseWidth = svg.width.baseVal.value, baseHeight = svg.height.baseVal.value;
function zoom(f) { scale *= f; svg.setAttribute("width", baseWidth * scale); svg.setAttribute("height", baseHeight * scale); }
document.getElementById("zoomin").onclick = () => zoom(1.25);
document.getElementById("zoomout").onclick = () => zoom(0.8);
</script></body></html>
)html";

std::string Replace(std::string s, const std::string& key, const std::string& value) {
  for (size_t p = s.find(key); p != std::string::npos; p = s.find(key, p + value.size()))
    s.replace(p, key.size(), value);
  return s;
}

}  // namespace

StatusOr<std::string> GraphHtml(const Graph& graph, const MemoryReport* memory, const std::string& title) {
  const int64_t nodes = static_cast<int64_t>(graph.nodes().size());
  if (nodes > kMaxHtmlNodes) {
    return InvalidArgument("--format html: the graph has ", nodes, " nodes, more than the ", kMaxHtmlNodes,
                           " a Graphviz layout handles in reasonable time; use --format dot or text");
  }
  std::map<std::string, const MemoryReport::Row*> buffers;
  if (memory) {
    for (const MemoryReport::Row& r : memory->rows) buffers[r.name] = &r;
  }
  std::string details;  // id -> what the panel shows
  int64_t total_params = 0;
  DotNodeVisitor visit;
  visit.op = [&](const std::string& id, const Node& node) {
    std::string inputs, outputs;
    int64_t params = 0;
    for (const Value* in : node.inputs()) {
      if (!in) continue;
      inputs += (inputs.empty() ? "" : ",") + ValueJson(*in, buffers);
      params += ParameterCount(*in);
    }
    for (const Value* out : node.outputs()) outputs += (outputs.empty() ? "" : ",") + ValueJson(*out, buffers);
    details += (details.empty() ? "" : ",\n") + JsonString(id) + ":{\"op\":" + JsonString(node.op_type()) +
               ",\"name\":" + JsonString(node.name()) + ",\"attrs\":" + JsonString(node.attrs().ToString()) +
               ",\"params\":" + std::to_string(params) + ",\"inputs\":[" + inputs + "],\"outputs\":[" + outputs + "]}";
  };
  visit.value = [&](const std::string& id, const char* kind, const Value& v) {
    total_params += ParameterCount(v);
    std::string entry = ValueJson(v, buffers);
    entry.insert(1, "\"kind\":" + JsonString(kind) + ",\"params\":" + std::to_string(ParameterCount(v)) + ",");
    details += (details.empty() ? "" : ",\n") + JsonString(id) + ":" + entry;
  };
  const std::string dot = PrintDot(graph, visit);
  ASSIGN_OR_RETURN(std::string svg, RenderSvg(dot));

  std::string summary = FormatCount(nodes) + " nodes, " + FormatCount(total_params) + " parameters";
  if (memory) summary += ", arena " + FormatBytes(memory->arena_bytes);
  std::string page = Replace(Replace(kPageHead, "@TITLE@", HtmlEscape(title)), "@SUMMARY@", HtmlEscape(summary));
  page += svg;
  page += "\n<script type=\"application/json\" id=\"kiln-graph\">{" + details + "}</script>\n";
  page += kPageTail;
  return page;
}

}  // namespace kiln::cli
