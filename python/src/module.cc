// The native part of the kiln Python package (python/kiln wraps it; docs/python.md).
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "python/src/convert.h"
#include "python/src/inference.h"
#include "tools/kiln/args.h"
#include "tools/kiln/commands.h"

namespace kiln::python {

void BindTraining(nb::module_& m);  // training.cc

namespace {

// Runs a kiln subcommand (dump, compile) as the CLI would, the GIL released; its one-line
// error becomes the exception: ValueError for a bad argument (exit 2), else KilnError.
void RunCommand(const std::string& command, const std::vector<std::string>& args) {
  int code = 0;
  std::string message;
  {
    nb::gil_scoped_release released;
    cli::ErrorCapture capture;
    code = command == "dump" ? cli::DumpCommand(args) : command == "compile" ? cli::CompileCommand(args) : -1;
    message = capture.message();
  }
  if (code == -1) Raise(InvalidArgument("unknown command '", command, "'"));
  if (code == cli::kExitUsage) Raise(InvalidArgument(message));
  if (code != cli::kExitOk) Raise(Internal(message), nullptr);
}

}  // namespace
}  // namespace kiln::python

NB_MODULE(_kiln, m) {
  m.doc() = "Kiln's native module; use the kiln package.";
  kiln::python::RegisterExceptions(m);
  kiln::python::BindInference(m);
  kiln::python::BindTraining(m);
  m.def("_run_command", &kiln::python::RunCommand, nanobind::arg("command"), nanobind::arg("args"));
}
