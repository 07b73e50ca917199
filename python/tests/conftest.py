"""Shared fixtures: the repository, the kiln command the results are compared with
(KILN_CLI, else build/kiln), and a rule that a skipped test fails the run."""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def kiln_cli():
    path = pathlib.Path(os.environ.get("KILN_CLI", ROOT / "build" / "kiln"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"the kiln command is needed to compare against: {path} is missing (scripts/build.sh, or set KILN_CLI)")

    def run(*args, check=True):
        result = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"kiln {' '.join(map(str, args))} failed: {result.stderr.strip()}")
        return result

    return run


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and session.exitstatus == 0:
        reporter.write_line("kiln: a test was skipped; the Python tests must all run", red=True)
        session.exitstatus = 1
