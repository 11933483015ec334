"""The offline GPU kit: ``offline_wheels.sh`` fetches requirements-offline.txt as wheels for
a given Python, refuses wheels built for another one, and ``offline_env.sh`` installs them
into a private folder from which fairseq and the plugin then import (checked by where
fairseq is loaded from, not only that it loads: the test venv has fairseq already)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.cli import REPO_ROOT

FETCH = "examples/benchmarks/offline_wheels.sh"
ENV = "examples/benchmarks/offline_env.sh"
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def run_bash(script: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, **(env or {})})


def test_offline_env_names_the_fix_when_no_wheels_are_there(tmp_path):
    proc = run_bash(f". {ENV} {tmp_path} && echo sourced")
    assert proc.returncode == 1
    assert "sourced" not in proc.stdout
    assert f"no wheels in {tmp_path}" in proc.stderr
    assert "offline_wheels.sh" in proc.stderr


@pytest.mark.slow
def test_wheels_for_this_python_install_and_load_from_the_private_folder(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    # A compiled wheel for another Python is refused, by name, after the fetch.
    stray = wheels / "stray-1.0-cp39-cp39-manylinux_2_17_x86_64.whl"
    stray.write_bytes(b"")
    proc = run_bash(f"bash {FETCH} {PYTHON_VERSION} {wheels}")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert stray.name in proc.stderr and f"not for Python {PYTHON_VERSION}" in proc.stderr

    stray.unlink()
    proc = run_bash(f"bash {FETCH} {PYTHON_VERSION} {wheels}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fetched = sorted(path.name for path in wheels.glob("*.whl"))
    pinned = Path(REPO_ROOT, "requirements-offline.txt").read_text().splitlines()
    requirements = [line.split("#")[0].strip() for line in pinned]
    requirements = [line for line in requirements if line]
    assert len(fetched) == len(requirements)
    assert any(name.startswith("ve_fairseq-") for name in fetched)

    site = tmp_path / "site"
    proc = run_bash(
        f". {ENV} {wheels} && $PYTHON -c 'import fairseq, birq_fairseq.plugin; "
        "print(fairseq.__file__)'",
        env={"PYTHON": sys.executable, "OFFLINE_SITE": str(site)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fairseq and birq_fairseq load" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith(str(site / "fairseq"))
