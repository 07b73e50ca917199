// Ahead-of-time objects: the serialized Plan (weights included) as read-only data
// with well-known symbols, for `kiln compile --emit obj|exe|lib`.
//
// For a model symbol NAME the object defines (all extern "C"):
//   const unsigned char kiln_model_NAME_plan[];      the serialized kiln.proto.Plan
//   const int64_t       kiln_model_NAME_plan_size;
//   const int32_t       kiln_model_NAME_num_threads; the --threads given at compile time (0: all)
//   const kiln_kernel_entry kiln_model_NAME_kernels[]; compiled-kernel table (kiln/runtime.h)
//   const int64_t       kiln_model_NAME_kernels_count;
// and, with `main_aliases`, the same under kiln_main_* for the prebuilt driver (libkiln_main.a)
// plus `const char kiln_main_model_name[]` and kiln_main_training[] / _size (PlanObjectOptions.training).
#pragma once

#include <string>

#include "ir/core/status.h"
#include "runtime/plan.pb.h"

namespace kiln::codegen {

struct PlanObjectOptions {
  std::string symbol;   // NAME: a C identifier
  int num_threads = 0;  // baked default thread count
  bool main_aliases = false;
  /// With main_aliases: the model's serialized kiln.proto.TrainingSpec as kiln_main_training[]
  /// and kiln_main_training_size (class names and input preprocessing for --image).
  std::string training;
};

/// "kiln_model_" + symbol + suffix.
std::string PlanSymbol(const std::string& symbol, const std::string& suffix);

/// Emits the object file (bytes) for the host.
StatusOr<std::string> EmitPlanObject(const proto::Plan& plan, const PlanObjectOptions& options);

/// The object of a compiled trainer (kiln compile --train, driver libkiln_train_main.a):
///   kiln_main_train_step[], kiln_main_train_step_size    the training step's Plan
///   kiln_main_train_eval[], kiln_main_train_eval_size    the evaluation Plan (same batch)
///   kiln_main_train_model[], kiln_main_train_model_size  the kiln.proto.Model (graph with its
///                                                        initial weights, training block)
/// plus kiln_main_num_threads, kiln_main_kernels(_count) and kiln_main_model_name.
StatusOr<std::string> EmitTrainerObject(const proto::Plan& step, const proto::Plan& eval, const std::string& model,
                                        const PlanObjectOptions& options);

}  // namespace kiln::codegen
