"""The collapse guard sees a codebook collapse and names the update; healthy labels pass."""

import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from birq_fairseq.tasks.collapse_guard import CodebookCollapseError, CollapseGuard

from ..e2e.cli import BIN, REPO_ROOT

SIZES = {"anchor": 1024, "enhanced": 1024}


def _logging_output(codes: torch.Tensor, masked: int) -> dict:
    from birq_fairseq.criterions.birq import code_usage

    used, ppl, _ = code_usage(codes.view(-1, 1), 1024)
    return {"sample_size": masked, "anchor_codes_used": used, "anchor_ppl": ppl}


def test_guard_flags_labels_on_one_code():
    guard = CollapseGuard(interval=1, min_code_fraction=0.05, min_perplexity=2.0, stop=False)
    findings = guard.findings(_logging_output(torch.zeros(200, dtype=torch.long), 200), SIZES)
    assert len(findings) == 2
    assert "anchor labels use 1 distinct codes" in findings[0]
    assert "perplexity 1.00" in findings[1]


def test_guard_passes_varied_labels():
    guard = CollapseGuard(interval=1, min_code_fraction=0.05, min_perplexity=2.0, stop=False)
    varied = torch.randint(0, 1024, (200,), generator=torch.Generator().manual_seed(0))
    assert guard.findings(_logging_output(varied, 200), SIZES) == []


def _top_heavy(share: float, masked: int = 250) -> torch.Tensor:
    """``share`` of the frames on code 0, the rest on distinct codes (many codes used)."""
    heavy = int(share * masked)
    return torch.cat([torch.zeros(heavy, dtype=torch.long), torch.arange(1, masked - heavy + 1)])


def _enhanced_logging_output(codes: torch.Tensor) -> dict:
    from birq_fairseq.criterions.birq import code_usage

    varied = torch.randint(0, 1024, (len(codes),), generator=torch.Generator().manual_seed(1))
    output = _logging_output(varied, len(codes))
    usage = code_usage(codes.view(-1, 1), 1024)
    output.update(enhanced_codes_used=usage.used, enhanced_ppl=usage.perplexity,
                  enhanced_top_share=usage.top_share, anchor_top_share=usage.top_share)
    return output


def test_guard_flags_enhanced_labels_piling_onto_one_code_with_many_codes_used():
    """The study's collapsing 6 x 192 run: 13+ codes per batch pass the code floor, but one code
    holds over a third of the frames. Only the enhanced labels are checked for it: a frozen
    anchor quantizer's top share is the input's silence."""
    guard = CollapseGuard(interval=1, min_code_fraction=0.05, min_perplexity=2.0, stop=False,
                          max_enhanced_top_share=0.3)
    findings = guard.findings(_enhanced_logging_output(_top_heavy(0.4)), SIZES)
    assert len(findings) == 1 and "enhanced labels put 0.40 of the masked frames" in findings[0]
    assert guard.findings(_enhanced_logging_output(_top_heavy(0.2)), SIZES) == []


def test_guard_stops_when_asked():
    guard = CollapseGuard(interval=1, min_code_fraction=0.05, min_perplexity=2.0, stop=True)
    with pytest.raises(CodebookCollapseError, match="update 7"):
        guard.check(_logging_output(torch.zeros(50, dtype=torch.long), 50), SIZES, 7)


@pytest.fixture
def constant_audio(tmp_path):
    """Silence-like constant signals: normalised features are all zero, one label for all."""
    lines = [str(tmp_path)]
    for i in range(4):
        sf.write(tmp_path / f"const{i}.wav", np.full(24000, 0.1, dtype=np.float32), 16000)
        lines.append(f"const{i}.wav\t24000")
    for split in ("train", "valid"):
        (tmp_path / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("stop", [False, True])
def test_training_on_constant_input_reports_collapse(constant_audio, stop):
    proc = subprocess.run(
        [str(BIN / "fairseq-hydra-train"), f"task.data={constant_audio}",
         f"checkpoint.save_dir={constant_audio / 'checkpoints'}", "optimization.max_update=2",
         "+task.collapse_check_interval=1", f"+task.collapse_stop={str(stop).lower()}",
         "--config-dir", "config/pretraining", "--config-name", "birq_demo"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert "codebook collapse at update 1: anchor labels use 1 distinct codes" in output
    assert (proc.returncode != 0) == stop, output[-3000:]
