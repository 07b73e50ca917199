// Plan validation (runtime/plan_validator.h) through kiln_session_create: real
// plans of the examples (MLP, CNN, a training step) under every single-field
// mutation the test can generate must give an error or a session that runs,
// never a crash; and the specific lies of issue 10 must be errors.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <set>

#include "compiler/compile.h"
#include "frontends/load_model.h"
#include "ir/core/op_registry.h"
#include "kiln/runtime.h"
#include "runtime/plan_validator.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

proto::Plan ExamplePlan(const std::string& example) {
  auto m = LoadModel(testing::SourcePath("examples/" + example));
  EXPECT_TRUE(m.ok()) << m.status().message();
  auto plan = CompileToPlan(*m->graph);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return std::move(plan).value();
}

proto::Plan TrainingPlan() {
  auto plan = testing::CompileTrainingStep("examples/fashion_mnist_mlp.kiln.txt", 4, "adam");
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return std::move(plan).value();
}

// kiln_session_create on `plan`; when it loads, one run on zero inputs. Returns whether it loaded
// (the test's real assertion is that this returns at all).
bool LoadAndRun(const proto::Plan& plan, std::string* error = nullptr) {
  const std::string bytes = plan.SerializeAsString();
  kiln_plan* p = nullptr;
  if (kiln_plan_load_memory(bytes.data(), bytes.size(), &p) != KILN_OK) {
    if (error) *error = kiln_last_error();
    return false;
  }
  kiln_session_options options;
  kiln_session_options_init(&options);
  options.num_threads = 1;
  kiln_session* s = nullptr;
  const kiln_status st = kiln_session_create(p, &options, &s);
  kiln_plan_free(p);
  if (st != KILN_OK) {
    if (error) *error = kiln_last_error();
    EXPECT_NE(std::string(kiln_last_error()).find('\n'), 0u);  // one line
    return false;
  }
  kiln_session_run(s);  // zero inputs; an error is fine, a crash is not
  kiln_session_free(s);
  return true;
}

using Mutation = std::function<void(proto::Plan*)>;

// Every single-field mutation of `plan` this test knows, with a description each.
std::vector<std::pair<std::string, Mutation>> Mutations(const proto::Plan& plan) {
  std::vector<std::pair<std::string, Mutation>> out;
  auto add = [&](std::string what, Mutation m) { out.emplace_back(std::move(what), std::move(m)); };
  const int nb = plan.buffer_size();
  // A few other buffers per operand: spread over the plan, plus out-of-range ones.
  auto others = [&](int idx) {
    std::set<int> v = {-2, -1, nb, 0, nb - 1};
    for (int k = 1; k <= 5; ++k) v.insert((idx + k * nb / 6 + 1) % std::max(nb, 1));
    v.erase(idx);
    return v;
  };
  for (int s = 0; s < plan.step_size(); ++s) {
    const proto::Step& step = plan.step(s);
    const std::string at = "step " + std::to_string(s) + " (" + step.op_type() + ") ";
    for (int i = 0; i < step.input_size(); ++i) {
      add(at + "drop input " + std::to_string(i), [s, i](proto::Plan* p) {
        auto* in = p->mutable_step(s)->mutable_input();
        in->erase(in->begin() + i);
      });
      for (int o : others(step.input(i))) {
        add(at + "input " + std::to_string(i) + " -> " + std::to_string(o),
            [s, i, o](proto::Plan* p) { p->mutable_step(s)->set_input(i, o); });
      }
    }
    for (int i = 0; i < step.output_size(); ++i) {
      add(at + "drop output " + std::to_string(i), [s, i](proto::Plan* p) {
        auto* o = p->mutable_step(s)->mutable_output();
        o->erase(o->begin() + i);
      });
      for (int o : others(step.output(i))) {
        add(at + "output " + std::to_string(i) + " -> " + std::to_string(o),
            [s, i, o](proto::Plan* p) { p->mutable_step(s)->set_output(i, o); });
      }
    }
    add(at + "no inputs", [s](proto::Plan* p) { p->mutable_step(s)->clear_input(); });
    add(at + "no outputs", [s](proto::Plan* p) { p->mutable_step(s)->clear_output(); });
    add(at + "extra input", [s](proto::Plan* p) { p->mutable_step(s)->add_input(0); });
    add(at + "extra output", [s](proto::Plan* p) { p->mutable_step(s)->add_output(p->buffer_size() - 1); });
    for (const char* op : {"Relu", "MatMul", "Conv", "Add", "NoSuchOp", ""}) {
      add(at + "op " + op, [s, op](proto::Plan* p) { p->mutable_step(s)->set_op_type(op); });
    }
    for (const char* k : {"ref", "onednn", "jit", "gpu"}) {
      add(at + "kernel " + k, [s, k](proto::Plan* p) { p->mutable_step(s)->set_kernel(k); });
    }
    for (int a = 0; a < step.attribute_size(); ++a) {
      const std::string an = at + "attribute " + step.attribute(a).name() + " ";
      add(an + "dropped", [s, a](proto::Plan* p) {
        auto* attrs = p->mutable_step(s)->mutable_attribute();
        attrs->erase(attrs->begin() + a);
      });
      add(an + "as string", [s, a](proto::Plan* p) { p->mutable_step(s)->mutable_attribute(a)->set_s("x"); });
      add(an + "as float", [s, a](proto::Plan* p) { p->mutable_step(s)->mutable_attribute(a)->set_f(2.5f); });
      for (int64_t v : {int64_t{-1}, int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1} << 40}) {
        add(an + "int " + std::to_string(v),
            [s, a, v](proto::Plan* p) { p->mutable_step(s)->mutable_attribute(a)->set_i(v); });
        add(an + "ints " + std::to_string(v), [s, a, v](proto::Plan* p) {
          auto* attr = p->mutable_step(s)->mutable_attribute(a);
          const int n = std::max(attr->ints().values_size(), 1);
          attr->mutable_ints()->clear_values();
          for (int k = 0; k < n; ++k) attr->mutable_ints()->add_values(v);
        });
      }
    }
  }
  for (int b = 0; b < nb; ++b) {
    const proto::Buffer& buf = plan.buffer(b);
    const std::string at = "buffer " + std::to_string(b) + " ";
    for (int dt = 0; dt <= 9; ++dt) {
      if (dt != buf.dtype())
        add(at + "dtype " + std::to_string(dt),
            [b, dt](proto::Plan* p) { p->mutable_buffer(b)->set_dtype(static_cast<proto::DataType>(dt)); });
    }
    for (int d = 0; d < buf.dims_size(); ++d) {
      for (int64_t delta : {int64_t{-1}, int64_t{1}}) {
        add(at + "dim " + std::to_string(d) + " + " + std::to_string(delta),
            [b, d, delta](proto::Plan* p) { p->mutable_buffer(b)->set_dims(d, p->buffer(b).dims(d) + delta); });
      }
      for (int64_t v : {int64_t{0}, int64_t{-3}, int64_t{1} << 40}) {
        add(at + "dim " + std::to_string(d) + " = " + std::to_string(v),
            [b, d, v](proto::Plan* p) { p->mutable_buffer(b)->set_dims(d, v); });
      }
    }
    add(at + "rank + 1", [b](proto::Plan* p) { p->mutable_buffer(b)->add_dims(2); });
    add(at + "rank 0", [b](proto::Plan* p) { p->mutable_buffer(b)->clear_dims(); });
    for (int64_t delta : {int64_t{-64}, int64_t{-1}, int64_t{1}, int64_t{4}, int64_t{64}, int64_t{4096}}) {
      add(at + "offset + " + std::to_string(delta),
          [b, delta](proto::Plan* p) { p->mutable_buffer(b)->set_offset(p->buffer(b).offset() + delta); });
      add(at + "init_offset + " + std::to_string(delta),
          [b, delta](proto::Plan* p) { p->mutable_buffer(b)->set_init_offset(p->buffer(b).init_offset() + delta); });
    }
    for (int64_t v : {int64_t{0}, int64_t{INT64_MAX - 8}, -(int64_t{1} << 62)}) {
      add(at + "offset = " + std::to_string(v), [b, v](proto::Plan* p) { p->mutable_buffer(b)->set_offset(v); });
    }
    for (int k = 0; k <= 3; ++k) {
      if (k != buf.kind())
        add(at + "kind " + std::to_string(k),
            [b, k](proto::Plan* p) { p->mutable_buffer(b)->set_kind(static_cast<proto::BufferKind>(k)); });
    }
  }
  for (int i = 0; i < plan.input_size(); ++i) {
    for (int o : others(plan.input(i))) {
      add("input " + std::to_string(i) + " -> " + std::to_string(o), [i, o](proto::Plan* p) { p->set_input(i, o); });
    }
  }
  for (int i = 0; i < plan.output_size(); ++i) {
    for (int o : others(plan.output(i))) {
      add("output " + std::to_string(i) + " -> " + std::to_string(o), [i, o](proto::Plan* p) { p->set_output(i, o); });
    }
  }
  for (int i = 0; i < plan.state_size(); ++i) {
    add("drop state " + std::to_string(i),
        [i](proto::Plan* p) { p->mutable_state()->erase(p->mutable_state()->begin() + i); });
    for (int o : others(plan.state(i))) {
      add("state " + std::to_string(i) + " -> " + std::to_string(o), [i, o](proto::Plan* p) { p->set_state(i, o); });
    }
  }
  for (int i = 0; i < plan.state_update_size(); ++i) {
    for (int o : others(plan.state_update(i).update())) {
      add("update " + std::to_string(i) + " -> " + std::to_string(o),
          [i, o](proto::Plan* p) { p->mutable_state_update(i)->set_update(o); });
      add("updated state " + std::to_string(i) + " -> " + std::to_string(o),
          [i, o](proto::Plan* p) { p->mutable_state_update(i)->set_state(o); });
    }
  }
  for (int64_t v : {int64_t{-1}, int64_t{0}, plan.arena_size() / 2, plan.arena_size() + 64, int64_t{1} << 40}) {
    add("arena " + std::to_string(v), [v](proto::Plan* p) { p->set_arena_size(v); });
  }
  add("constants halved", [](proto::Plan* p) { p->mutable_constants()->resize(p->constants().size() / 2); });
  add("constants - 1", [](proto::Plan* p) {
    if (!p->constants().empty()) p->mutable_constants()->pop_back();
  });
  return out;
}

void MutateAll(const proto::Plan& plan, int* loaded, int* rejected) {
  ASSERT_TRUE(LoadAndRun(plan));
  for (const auto& [what, mutate] : Mutations(plan)) {
    SCOPED_TRACE(what);
    proto::Plan p = plan;
    mutate(&p);
    (LoadAndRun(p) ? *loaded : *rejected) += 1;
  }
}

TEST(PlanValidationTest, EveryMutationOfTheMlpPlanLoadsOrFails) {
  int loaded = 0, rejected = 0;
  MutateAll(ExamplePlan("fashion_mnist_mlp.kiln.txt"), &loaded, &rejected);
  std::printf("MLP: %d mutations rejected, %d loaded and ran\n", rejected, loaded);
  EXPECT_GT(rejected, 500);
}

TEST(PlanValidationTest, EveryMutationOfTheCnnPlanLoadsOrFails) {
  int loaded = 0, rejected = 0;
  MutateAll(ExamplePlan("fashion_mnist_cnn.kiln.txt"), &loaded, &rejected);
  std::printf("CNN: %d mutations rejected, %d loaded and ran\n", rejected, loaded);
  EXPECT_GT(rejected, 1000);
}

TEST(PlanValidationTest, EveryMutationOfATrainingPlanLoadsOrFails) {
  int loaded = 0, rejected = 0;
  MutateAll(TrainingPlan(), &loaded, &rejected);
  std::printf("training: %d mutations rejected, %d loaded and ran\n", rejected, loaded);
  EXPECT_GT(rejected, 1000);
}

// The reported crash: a step with no inputs or no outputs, for every step (every oneDNN step type).
TEST(PlanValidationTest, StepsWithoutInputsOrOutputsAreErrors) {
  for (const char* example : {"fashion_mnist_mlp.kiln.txt", "fashion_mnist_cnn.kiln.txt"}) {
    const proto::Plan plan = ExamplePlan(example);
    std::set<std::string> onednn_ops;
    for (int s = 0; s < plan.step_size(); ++s) {
      if (plan.step(s).kernel() == "onednn") onednn_ops.insert(plan.step(s).op_type());
      for (bool inputs : {true, false}) {
        proto::Plan p = plan;
        inputs ? p.mutable_step(s)->clear_input() : p.mutable_step(s)->clear_output();
        std::string error;
        EXPECT_FALSE(LoadAndRun(p, &error)) << example << " step " << s;
        EXPECT_NE(error.find(plan.step(s).name()), std::string::npos) << error;
      }
    }
    EXPECT_FALSE(onednn_ops.empty()) << example;
  }
}

// Each lie of issue 10, and its message.
TEST(PlanValidationTest, EachLieIsAnError) {
  const proto::Plan mlp = ExamplePlan("fashion_mnist_mlp.kiln.txt");
  int constant = -1, intermediate = -1;
  for (int b = 0; b < mlp.buffer_size(); ++b) {
    if (mlp.buffer(b).kind() == proto::BUF_CONSTANT && constant < 0) constant = b;
  }
  intermediate = mlp.step(0).output(0);
  ASSERT_GE(constant, 0);
  struct Case {
    const char* what;
    Mutation mutate;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"input aliases a constant", [&](proto::Plan* p) { p->set_input(0, constant); }, "is a constant"},
      {"input is an intermediate written by a step", [&](proto::Plan* p) { p->add_input(intermediate); },
       "is an input"},
      {"unknown op", [](proto::Plan* p) { p->mutable_step(0)->set_op_type("Frobnicate"); }, "unknown op 'Frobnicate'"},
      {"unknown kernel", [](proto::Plan* p) { p->mutable_step(0)->set_kernel("gpu"); }, "no 'gpu' kernel"},
      {"attribute of the wrong type",
       [](proto::Plan* p) {
         proto::Attribute* a = p->mutable_step(0)->add_attribute();
         a->set_name("transB");
         a->set_s("yes");
       },
       "attribute 'transB'"},
      {"buffer outside the arena",
       [&](proto::Plan* p) { p->mutable_buffer(intermediate)->set_offset(p->arena_size()); }, "outside its arena"},
      {"offset overflowing int64", [&](proto::Plan* p) { p->mutable_buffer(intermediate)->set_offset(INT64_MAX - 4); },
       "outside its arena"},
      {"constant data shorter than its shape",
       [&](proto::Plan* p) { p->mutable_buffer(constant)->set_dims(0, p->buffer(constant).dims(0) * 1000); },
       "outside its constants"},
      {"misaligned offset", [&](proto::Plan* p) { p->mutable_buffer(intermediate)->set_offset(2); },
       "multiple of its element size"},
      {"output dtype", [&](proto::Plan* p) { p->mutable_buffer(intermediate)->set_dtype(proto::DT_INT32); },
       "but the op gives float32"},
      {"output shape", [&](proto::Plan* p) { p->mutable_buffer(intermediate)->set_dims(1, 3); }, "but the op gives"},
      {"input index out of range", [](proto::Plan* p) { p->mutable_step(0)->set_input(0, 100000); },
       "refers to buffer 100000"},
      {"initial value on a buffer that is no state",
       [&](proto::Plan* p) { p->mutable_buffer(intermediate)->set_init_offset(64); }, "is not a state"},
      {"unknown buffer kind", [&](proto::Plan* p) { p->mutable_buffer(intermediate)->set_kind(proto::BufferKind(9)); },
       "unknown kind 9"},
      {"arena larger than the buffers", [](proto::Plan* p) { p->set_arena_size(int64_t{1} << 36); },
       "more than its buffers use"},
      {"step writes a constant", [&](proto::Plan* p) { p->mutable_step(0)->set_output(0, constant); }, "is a constant"},
      {"read before written",
       [&](proto::Plan* p) { p->mutable_step(0)->set_input(0, p->step(p->step_size() - 1).output(0)); },
       "read before any step writes it"},
      {"live buffers overlap",
       [&](proto::Plan* p) {
         const int next = p->step(1).output(0);
         p->mutable_buffer(next)->set_offset(p->buffer(p->input(0)).offset());
       },
       "share arena bytes"},
  };
  for (const Case& c : cases) {
    proto::Plan p = mlp;
    c.mutate(&p);
    std::string error;
    EXPECT_FALSE(LoadAndRun(p, &error)) << c.what;
    EXPECT_NE(error.find(c.message), std::string::npos) << c.what << ": " << error;
  }
}

TEST(PlanValidationTest, StateLiesAreErrors) {
  const proto::Plan plan = TrainingPlan();
  ASSERT_GT(plan.state_size(), 0);
  ASSERT_GT(plan.state_update_size(), 0);
  const int state = plan.state(0);
  auto expect_error = [&](const char* what, const Mutation& m, const char* message) {
    proto::Plan p = plan;
    m(&p);
    std::string error;
    EXPECT_FALSE(LoadAndRun(p, &error)) << what;
    EXPECT_NE(error.find(message), std::string::npos) << what << ": " << error;
  };
  expect_error(
      "state not listed", [](proto::Plan* p) { p->mutable_state()->RemoveLast(); }, "not listed as a state");
  expect_error(
      "state listed twice", [&](proto::Plan* p) { p->add_state(state); }, "listed twice");
  expect_error(
      "initial value outside the constants",
      [&](proto::Plan* p) { p->mutable_buffer(state)->set_init_offset(p->constants().size()); }, "initial value");
  expect_error(
      "update of another shape", [&](proto::Plan* p) { p->mutable_state_update(0)->set_update(p->input(0)); },
      "do not match");
  expect_error(
      "state as an input", [&](proto::Plan* p) { p->set_input(0, state); }, "is a state");
  // The unmutated plan's in-place updates (state and update at one offset) are accepted.
  EXPECT_TRUE(LoadAndRun(plan));
}

// A float32 [16] arena buffer at `offset`; returns its index.
int AddBuffer16(proto::Plan& p, const std::string& name, int64_t offset) {
  proto::Buffer* b = p.add_buffer();
  b->set_name(name);
  b->set_dtype(proto::DT_FLOAT);
  b->add_dims(16);
  b->set_offset(offset);
  return p.buffer_size() - 1;
}

// Many buffers sharing bytes at different times (a long chain ping-ponging between two slots)
// validate in O(n log n): a plan cannot make loading quadratic.
TEST(PlanValidationTest, LongChainsValidateQuickly) {
  constexpr int kSteps = 50000;
  proto::Plan p;
  auto add_buffer = [&](const std::string& name, int64_t offset) { return AddBuffer16(p, name, offset); };
  p.add_input(add_buffer("x", 0));
  for (int s = 0; s < kSteps; ++s) {
    proto::Step* step = p.add_step();
    step->set_name("relu" + std::to_string(s));
    step->set_op_type("Relu");
    step->set_kernel("ref");
    step->add_input(p.buffer_size() - 1);
    step->add_output(add_buffer("y" + std::to_string(s), 64 + (s % 2) * 64));
  }
  p.add_output(p.buffer_size() - 1);
  p.set_arena_size(192);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(runtime::ValidatePlan(p).ok()) << runtime::ValidatePlan(p).message();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d steps validated in %.3f s\n", kSteps, seconds);
  EXPECT_LT(seconds, 20.0);
  // The same chain with one slot for everything overlaps at the first step.
  p.mutable_buffer(2)->set_offset(64);
  EXPECT_NE(runtime::ValidatePlan(p).message().find("share arena bytes"), std::string::npos);
}

// A reshape-like step's output may hold exactly its input's bytes (a view, as host plans are
// planned); any other sharing of live bytes stays an error, and so does a value that takes the
// bytes of a view while the view is still read.
TEST(PlanValidationTest, ViewsShareTheirInputsBytes) {
  proto::Plan p;
  auto add_buffer = [&](const std::string& name, int64_t offset) { return AddBuffer16(p, name, offset); };
  auto add_step = [&](const std::string& op, std::vector<int> in, int out) {
    proto::Step* step = p.add_step();
    step->set_name(op + std::to_string(p.step_size()));
    step->set_op_type(op);
    step->set_kernel("ref");
    for (int i : in) step->add_input(i);
    step->add_output(out);
  };
  const int x = add_buffer("x", 0), a = add_buffer("a", 64), view = add_buffer("view", 64), b = add_buffer("b", 128),
            y = add_buffer("y", 192);
  p.add_input(x);
  add_step("Relu", {x}, a);
  add_step("Identity", {a}, view);  // the view: a's bytes
  add_step("Relu", {a}, b);         // a's last read
  add_step("Add", {b, view}, y);    // the view is read after a is dead
  p.add_output(y);
  p.set_arena_size(256);
  EXPECT_TRUE(runtime::ValidatePlan(p).ok()) << runtime::ValidatePlan(p).message();
  EXPECT_TRUE(LoadAndRun(p));

  proto::Plan taken = p;  // b takes the bytes a and its view hold while the view is live
  taken.mutable_buffer(b)->set_offset(64);
  EXPECT_NE(runtime::ValidatePlan(taken).message().find("share arena bytes"), std::string::npos);
  proto::Plan not_a_view = p;  // a Relu may not write its input's bytes
  not_a_view.mutable_step(1)->set_op_type("Relu");
  EXPECT_NE(runtime::ValidatePlan(not_a_view).message().find("share arena bytes"), std::string::npos);
}

// A FusedConv's output may take its residual's bytes when nothing reads them after the step
// and no other input of the step is at them (compiler/memory_planner.h).
TEST(PlanValidationTest, FusedConvOutputsTakeDeadResidualsBytes) {
  proto::Plan p;
  auto add_image = [&](const std::string& name, int64_t offset) {
    const int b = AddBuffer16(p, name, offset);
    p.mutable_buffer(b)->clear_dims();
    for (int64_t d : {1, 1, 4, 4}) p.mutable_buffer(b)->add_dims(d);
    return b;
  };
  const int x = add_image("x", 0), z = add_image("z", 64), y = add_image("y", 64), out = add_image("out", 128);
  proto::Buffer* w = p.add_buffer();
  w->set_name("w");
  w->set_dtype(proto::DT_FLOAT);
  for (int d = 0; d < 4; ++d) w->add_dims(1);
  w->set_kind(proto::BUF_CONSTANT);
  const float two = 2.0f;
  p.set_constants(std::string(reinterpret_cast<const char*>(&two), sizeof(two)));
  const int weight = p.buffer_size() - 1;
  auto add_step = [&](const std::string& op, std::vector<int> in, int to) {
    proto::Step* step = p.add_step();
    step->set_name(op + std::to_string(p.step_size()));
    step->set_op_type(op);
    step->set_kernel("ref");
    if (op == "FusedConv") {
      Attrs a;
      a.SetInts("kernel_shape", {1, 1});
      a.ToProto(step->mutable_attribute());
    }
    for (int i : in) step->add_input(i);
    step->add_output(to);
  };
  p.add_input(x);
  add_step("Relu", {x}, z);
  add_step("FusedConv", {x, weight, -1, z}, y);  // z's last read: y takes its bytes
  add_step("Relu", {y}, out);
  p.add_output(out);
  p.set_arena_size(192);
  EXPECT_TRUE(runtime::ValidatePlan(p).ok()) << runtime::ValidatePlan(p).message();
  std::string error;
  EXPECT_TRUE(LoadAndRun(p, &error)) << error;

  proto::Plan read_later = p;  // z read after y wrote over it
  read_later.mutable_step(2)->set_op_type("Add");
  read_later.mutable_step(2)->add_input(z);
  EXPECT_NE(runtime::ValidatePlan(read_later).message().find("share arena bytes"), std::string::npos);
  proto::Plan also_the_image = p;  // the convolution would read the bytes it writes
  also_the_image.mutable_step(1)->set_input(0, z);
  EXPECT_NE(runtime::ValidatePlan(also_the_image).message().find("share arena bytes"), std::string::npos);
  proto::Plan not_fused = p;  // only a FusedConv's residual: an Add may not write its input's bytes
  not_fused.mutable_step(1)->set_op_type("Add");
  not_fused.mutable_step(1)->clear_input();
  not_fused.mutable_step(1)->clear_attribute();
  not_fused.mutable_step(1)->add_input(x);
  not_fused.mutable_step(1)->add_input(z);
  EXPECT_NE(runtime::ValidatePlan(not_fused).message().find("share arena bytes"), std::string::npos)
      << runtime::ValidatePlan(not_fused).message();
}

// The fuzz target's seeds (tests/fuzz/seeds/plan_loader) stay real plans as the format evolves.
TEST(PlanValidationTest, FuzzSeedsAreValidPlans) {
  int seeds = 0;
  for (const char* name : {"perceptron_and", "xor_mlp", "iris_mlp", "tiny_cnn", "xor_train_adam", "xor_train_sgd"}) {
    auto plan = runtime::Session::ReadPlanFile(testing::SourcePath("tests/fuzz/seeds/plan_loader/") + name + ".plan");
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    std::string error;
    EXPECT_TRUE(LoadAndRun(*plan, &error)) << name << ": " << error;
    ++seeds;
  }
  EXPECT_EQ(seeds, 6);
}

}  // namespace
}  // namespace kiln
