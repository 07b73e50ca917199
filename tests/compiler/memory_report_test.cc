// The memory report of lowered plans: its totals agree with the plan, and no two
// buffers live at the same time share arena bytes (a check of the planner too).
#include <gtest/gtest.h>

#include "compiler/compile.h"
#include "compiler/memory_planner.h"
#include "compiler/training.h"
#include "frontends/load_model.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

void ExpectConsistent(const proto::Plan& plan, const std::string& what) {
  const MemoryReport report = ReportMemory(plan);
  EXPECT_EQ(report.arena_bytes, plan.arena_size()) << what;
  EXPECT_GT(report.peak_live_bytes, 0) << what;
  EXPECT_LE(report.peak_live_bytes, report.arena_bytes) << what;
  EXPECT_GE(report.without_reuse_bytes, report.arena_bytes) << what;
  for (size_t i = 0; i < report.rows.size(); ++i) {
    const auto& a = report.rows[i];
    EXPECT_LE(a.offset + a.bytes, report.arena_bytes) << what << ": " << a.name;
    for (size_t j = i + 1; j < report.rows.size(); ++j) {
      const auto& b = report.rows[j];
      const bool same_buffer_in_place = a.offset == b.offset && a.bytes == b.bytes;
      const bool live_together = a.first_step <= b.last_step && b.first_step <= a.last_step;
      const bool overlap = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
      // An in-place update shares its state's bytes: it is written by the step that reads the state last.
      if (live_together && overlap && !same_buffer_in_place) {
        ADD_FAILURE() << what << ": %" << a.name << " and %" << b.name << " are live together and overlap";
      }
    }
  }
  const std::string text = FormatMemoryReport(report);
  EXPECT_NE(text.find("arena (peak"), std::string::npos) << text;
}

TEST(MemoryReport, InferencePlansReuseWithoutOverlap) {
  for (const char* model_path : {"tests/data/models/resnet/model.onnx", "tests/data/models/lenet5/model.onnx"}) {
    auto model = LoadModel(testing::SourcePath(model_path));
    ASSERT_OK(model.status());
    CompileOptions options;
    options.batch_size = 4;
    auto plan = CompileToPlan(*model->graph, options);
    ASSERT_OK(plan.status());
    ExpectConsistent(*plan, model_path);
    EXPECT_LT(ReportMemory(*plan).arena_bytes, ReportMemory(*plan).without_reuse_bytes) << model_path;
  }
}

TEST(MemoryReport, TrainingStepKeepsStateWholeRun) {
  auto plan = testing::CompileTrainingStep("tests/data/training/mlp.onnx", 8, "adam");
  ASSERT_OK(plan.status());
  ExpectConsistent(*plan, "mlp training step");
  const MemoryReport report = ReportMemory(*plan);
  int states = 0;
  for (const auto& row : report.rows) {
    if (row.kind != "state") continue;
    ++states;
    EXPECT_EQ(row.first_step, -1) << row.name;
    EXPECT_EQ(row.last_step, report.num_steps) << row.name;
  }
  EXPECT_EQ(states, plan->state_size());
}

TEST(MemoryReport, LimitsRowsToTheLargest) {
  MemoryReport report;
  report.num_steps = 2;
  report.arena_bytes = 300;
  report.rows = {{"small", "temp", 0, 10, 0, 0}, {"big", "temp", 64, 200, 1, 1}, {"mid", "temp", 0, 50, 1, 1}};
  const std::string text = FormatMemoryReport(report, 1);
  EXPECT_NE(text.find("%big"), std::string::npos) << text;
  EXPECT_EQ(text.find("%small"), std::string::npos) << text;
}

}  // namespace
}  // namespace kiln
