#include "runtime/training/curves_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

namespace kiln::runtime {
namespace {

constexpr double kPanelWidth = 420, kPanelHeight = 260, kMarginLeft = 60, kMarginTop = 50, kGap = 70;
constexpr double kPlotWidth = kPanelWidth - 30, kPlotHeight = kPanelHeight - 50;

std::string Num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
  }
  return out;
}

struct Series {
  const char* label;
  const char* color;
  std::function<double(const EpochStats&)> value;  // < 0: absent
};

// One panel: axes with ticks, a polyline (and dots) per series that has values, a legend.
std::string Panel(const std::vector<EpochStats>& history, const std::string& name, double x0,
                  const std::vector<Series>& series) {
  double lo = INFINITY, hi = -INFINITY;
  for (const Series& s : series) {
    for (const EpochStats& e : history) {
      const double v = s.value(e);
      if (v >= 0 && std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  if (!std::isfinite(lo)) return "";
  if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
  const double pad = (hi - lo) * 0.05;
  lo -= pad, hi += pad;
  const double first = history.front().epoch, last = std::max<double>(history.back().epoch, first + 1);
  auto px = [&](double epoch) { return x0 + (epoch - first) / (last - first) * kPlotWidth; };
  auto py = [&](double v) { return kMarginTop + (hi - v) / (hi - lo) * kPlotHeight; };

  std::string svg = "<g class=\"panel\" id=\"" + name + "\">\n";
  svg += "<text x=\"" + Num(x0 + kPlotWidth / 2) + "\" y=\"" + Num(kMarginTop - 12) +
         "\" text-anchor=\"middle\" font-weight=\"bold\">" + name + "</text>\n";
  svg += "<rect x=\"" + Num(x0) + "\" y=\"" + Num(kMarginTop) + "\" width=\"" + Num(kPlotWidth) + "\" height=\"" +
         Num(kPlotHeight) + "\" fill=\"none\" stroke=\"#888\"/>\n";
  for (int t = 0; t <= 4; ++t) {  // value ticks and grid lines
    const double v = lo + (hi - lo) * t / 4, y = py(v);
    svg += "<line x1=\"" + Num(x0) + "\" x2=\"" + Num(x0 + kPlotWidth) + "\" y1=\"" + Num(y) + "\" y2=\"" + Num(y) +
           "\" stroke=\"#eee\"/><text x=\"" + Num(x0 - 6) + "\" y=\"" + Num(y + 4) +
           "\" text-anchor=\"end\" font-size=\"11\">" + Num(std::round(v * 1e4) / 1e4) + "</text>\n";
  }
  const int64_t epochs = static_cast<int64_t>(last - first);
  const int64_t stride = std::max<int64_t>(1, epochs / 8);
  for (int64_t e = static_cast<int64_t>(first); e <= static_cast<int64_t>(last); e += stride) {
    svg += "<text x=\"" + Num(px(e)) + "\" y=\"" + Num(kMarginTop + kPlotHeight + 16) +
           "\" text-anchor=\"middle\" font-size=\"11\">" + std::to_string(e) + "</text>\n";
  }
  svg += "<text x=\"" + Num(x0 + kPlotWidth / 2) + "\" y=\"" + Num(kMarginTop + kPlotHeight + 34) +
         "\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n";
  double legend_y = kMarginTop + 14;
  for (const Series& s : series) {
    std::string points, dots;
    for (const EpochStats& e : history) {
      const double v = s.value(e);
      if (!(v >= 0) || !std::isfinite(v)) continue;
      points += Num(px(e.epoch)) + "," + Num(py(v)) + " ";
      dots += "<circle cx=\"" + Num(px(e.epoch)) + "\" cy=\"" + Num(py(v)) + "\" r=\"2.5\" fill=\"" + s.color +
              "\"><title>" + s.label + " epoch " + std::to_string(e.epoch) + ": " + Num(v) + "</title></circle>";
    }
    if (points.empty()) continue;
    svg += "<polyline class=\"series\" data-label=\"" + std::string(s.label) + "\" fill=\"none\" stroke=\"" + s.color +
           "\" stroke-width=\"2\" points=\"" + points + "\"/>\n" + dots + "\n";
    svg += "<text x=\"" + Num(x0 + kPlotWidth - 8) + "\" y=\"" + Num(legend_y) + "\" text-anchor=\"end\" fill=\"" +
           s.color + "\" font-size=\"12\">" + s.label + "</text>\n";
    legend_y += 15;
  }
  return svg + "</g>\n";
}

}  // namespace

std::string TrainingCurvesSvg(const std::vector<EpochStats>& history, const std::string& title) {
  const bool has_accuracy =
      std::any_of(history.begin(), history.end(), [](const EpochStats& e) { return e.accuracy >= 0; });
  const int panels = has_accuracy ? 2 : 1;
  const double width = kMarginLeft + panels * kPanelWidth + (panels - 1) * kGap;
  const double height = kMarginTop + kPanelHeight + 10;
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    Num(width) + "\" height=\"" + Num(height) + "\" viewBox=\"0 0 " + Num(width) + " " + Num(height) +
                    "\" font-family=\"sans-serif\">\n<title>" + Escape(title) +
                    "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"" + Num(width / 2) +
                    "\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">" + Escape(title) + "</text>\n";
  if (!history.empty()) {
    svg += Panel(history, "loss", kMarginLeft,
                 {{"loss", "#1f77b4", [](const EpochStats& e) { return e.loss; }},
                  {"val_loss", "#ff7f0e", [](const EpochStats& e) { return e.val_loss; }}});
    if (has_accuracy) {
      svg += Panel(history, "accuracy", kMarginLeft + kPanelWidth + kGap,
                   {{"accuracy", "#1f77b4", [](const EpochStats& e) { return e.accuracy; }},
                    {"val_accuracy", "#ff7f0e", [](const EpochStats& e) { return e.val_accuracy; }}});
    }
  } else {
    svg += "<text x=\"" + Num(width / 2) + "\" y=\"" + Num(height / 2) +
           "\" text-anchor=\"middle\">no completed epochs</text>\n";
  }
  return svg + "</svg>\n";
}

}  // namespace kiln::runtime
