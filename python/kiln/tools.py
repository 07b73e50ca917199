"""kiln.compile_to and kiln.dump: the `kiln compile` and `kiln dump` commands, in process."""

import os
import tempfile

from . import _kiln


def _model_path(model, tmp):
    """A path for `model`: a path as is; a kiln.Model (e.g. trained in memory) saved into `tmp`."""
    from .model import Model

    if isinstance(model, Model):
        path = os.path.join(tmp, "model.kiln")
        model.save(path)
        return path
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    raise TypeError(f"expected a model path or a kiln.Model, got {type(model).__name__}")


def _lib_dir():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib")
    return here if os.path.isfile(os.path.join(here, "libkiln_runtime.a")) else None


def compile_to(model, output, emit="exe", batch=None, threads=None, train=False, force=False):
    """Compile ``model`` ahead of time, like ``kiln compile MODEL -o OUTPUT --emit EMIT``.

    emit: "exe" (an executable), "lib" (libNAME.a, libNAME.so and NAME.h), "obj" or "plan".
    Executables and libraries link the Kiln runtime installed with this package.
    """
    with tempfile.TemporaryDirectory(prefix="kiln-") as tmp:
        args = [_model_path(model, tmp), "-o", os.fspath(output), "--emit", emit]
        if batch is not None:
            args += ["--batch", str(batch)]
        if threads is not None:
            args += ["--threads", str(threads)]
        if train:
            args.append("--train")
        if force:
            args.append("--force")
        lib = _lib_dir()
        restore = os.environ.get("KILN_RUNTIME_DIR")
        if lib and not restore:
            os.environ["KILN_RUNTIME_DIR"] = lib  # the wheel's runtime, for `kiln compile`'s link step
        try:
            _kiln._run_command("compile", args)
        finally:
            if lib and not restore:
                del os.environ["KILN_RUNTIME_DIR"]


def dump(model, format="text", output=None, batch=None, train=False, memory=False, raw=False, after=None):
    """The graph after the inference pipeline, like ``kiln dump MODEL --format FORMAT``.

    Returns the text (or writes it to ``output`` and returns None). ``format`` goes to the
    command as is: "text" or "dot" (and whatever else `kiln dump --format` accepts).
    """
    with tempfile.TemporaryDirectory(prefix="kiln-") as tmp:
        target = os.fspath(output) if output is not None else os.path.join(tmp, "dump.out")
        args = [_model_path(model, tmp), "--format", format, "-o", target]
        if batch is not None:
            args += ["--batch", str(batch)]
        for flag, on in (("--train", train), ("--memory", memory), ("--raw", raw)):
            if on:
                args.append(flag)
        if after is not None:
            args += ["--after", after]
        _kiln._run_command("dump", args)
        if output is None:
            with open(target, encoding="utf-8") as f:
                return f.read()
        return None
