"""The offline GPU kit: ``offline_wheels.sh`` fetches requirements-offline.txt as wheels for
a given Python (this one, and another one, which is the real case), refuses wheels that are
not pins or not for that Python, and ``offline_env.sh`` installs them into a private folder
from which fairseq and its needs then import (checked by where each module is loaded from,
not only that it loads: the test venv has them all already). Needs the package index, as
``make install`` does."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.cli import REPO_ROOT

FETCH = "examples/benchmarks/offline_wheels.sh"
ENV = "examples/benchmarks/offline_env.sh"
THIS_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
OTHER_PYTHON = "3.12" if THIS_PYTHON != "3.12" else "3.11"
FROM_THE_WHEELS = ("fairseq", "hydra", "omegaconf", "soundfile", "editdistance", "bitarray")


def run_bash(script: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, "PYTHON": sys.executable, **env})


def pinned_requirements() -> list[str]:
    lines = Path(REPO_ROOT, "requirements-offline.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def test_offline_env_names_the_fix_when_no_wheels_are_there(tmp_path):
    # Sourced from a script that has arguments of its own: they must not be read as options.
    proc = run_bash(f"set -- --seeds 1; . {ENV} && echo sourced", OFFLINE_WHEELS=str(tmp_path))
    assert proc.returncode == 1
    assert "sourced" not in proc.stdout
    assert f"no wheels in {tmp_path}" in proc.stderr
    assert "offline_wheels.sh" in proc.stderr


def test_offline_wheels_refuses_a_python_version_it_cannot_match(tmp_path):
    proc = run_bash(f"bash {FETCH} 3.12.1 {tmp_path / 'wheels'}")
    assert proc.returncode == 2
    assert "not MAJOR.MINOR" in proc.stderr
    assert not (tmp_path / "wheels").exists()


@pytest.mark.slow
def test_wheels_install_privately_and_fairseq_loads_from_them(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    # Wheels that are not pins (an old version, a build for this machine) are refused by name.
    for stray in ("hydra_core-1.0.0-py3-none-any.whl", "stray-1.0-cp39-cp39-linux_x86_64.whl"):
        (wheels / stray).write_bytes(b"")
    proc = run_bash(f"bash {FETCH} {THIS_PYTHON} {wheels}")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "hydra_core-1.0.0-py3-none-any.whl: not a pin" in proc.stderr
    assert "stray-1.0-cp39-cp39-linux_x86_64.whl: not a pin" in proc.stderr
    for stray in wheels.glob("*.whl"):
        if stray.stat().st_size == 0:
            stray.unlink()

    proc = run_bash(f"bash {FETCH} {THIS_PYTHON} {wheels}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fetched = sorted(path.name for path in wheels.glob("*.whl"))
    assert len(fetched) == len(pinned_requirements())

    site = tmp_path / "site"
    modules = ", ".join(FROM_THE_WHEELS)
    proc = run_bash(
        f". {ENV} && $PYTHON -c 'import {modules}, birq_fairseq.plugin\n"
        f"for m in ({modules}): print(m.__file__)'",
        OFFLINE_WHEELS=str(wheels), OFFLINE_SITE=str(site))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fairseq and birq_fairseq load" in proc.stdout
    loaded_from = proc.stdout.strip().splitlines()[-len(FROM_THE_WHEELS):]
    assert all(path.startswith(str(site)) for path in loaded_from), loaded_from


@pytest.mark.slow
def test_wheels_for_another_python_are_for_that_python(tmp_path):
    proc = run_bash(f"bash {FETCH} {OTHER_PYTHON} {tmp_path}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tag = "cp" + OTHER_PYTHON.replace(".", "")
    compiled = [path.name for path in tmp_path.glob("*.whl") if "-none-" not in path.name]
    assert any(name.startswith("ve_fairseq-") for name in compiled)
    assert compiled and all(f"-{tag}-" in name for name in compiled), compiled
    assert len(list(tmp_path.glob("*.whl"))) == len(pinned_requirements())


@pytest.mark.parametrize("script", ["gpu_check.sh", "study_gpu.sh"])
def test_gpu_scripts_name_the_fix_when_fairseq_cannot_load(script, tmp_path):
    # An interpreter that cannot import anything: the script stops before the GPU work.
    no_fairseq = tmp_path / "python"
    no_fairseq.write_text("#!/bin/sh\nexit 1\n")
    no_fairseq.chmod(0o755)
    proc = run_bash(f"bash examples/benchmarks/{script}", PYTHON=str(no_fairseq),
                    OUT=str(tmp_path / "out"))
    assert proc.returncode == 1
    assert "cannot import fairseq and birq_fairseq" in proc.stderr
    assert "offline_env.sh" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_study_gpu_refuses_a_data_folder_without_the_pretraining_manifest(tmp_path):
    proc = run_bash("bash examples/benchmarks/study_gpu.sh", DATA=str(tmp_path),
                    OUT=str(tmp_path / "out"))
    assert proc.returncode == 1
    assert f"DATA={tmp_path} holds no pretrain/train.tsv" in proc.stderr
    assert "pack_corpus" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_study_gpu_refuses_a_pack_that_was_not_relocated(tmp_path):
    data = tmp_path / "pack" / "manifests"
    (data / "pretrain").mkdir(parents=True)
    (data / "pretrain" / "train.tsv").write_text(f"{tmp_path / 'gone'}\nx.ogg\t16000\n")
    proc = run_bash("bash examples/benchmarks/study_gpu.sh", DATA=str(data),
                    OUT=str(tmp_path / "out"))
    assert proc.returncode == 1
    assert "names an audio folder that is not here" in proc.stderr
    assert "--relocate PACK" in proc.stderr
