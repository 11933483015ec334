"""The plotting command reads fairseq's per-update lines and writes one PNG per metric."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "plot_training.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SIMPLE_LOG = """\
epoch 001:  10 / 9 loss=13.5, loss_anchor=5.36, acc_anchor=0.11, enhanced_codes_used=148.5, \
num_updates=10
epoch 001 | valid on 'valid' subset | loss 12.1 | pnmi_anchor 0.4621 | pnmi_enhanced 0.103 \
| num_updates 10
epoch 001:  20 / 9 loss=12.2, loss_anchor=4.88, acc_anchor=0.15, enhanced_codes_used=54.6, \
num_updates=20
epoch 001:  30 / 9 loss=11.9, loss_anchor=4.96, acc_anchor=0.16, enhanced_codes_used=None, \
num_updates=30
"""
JSON_LOG = (
    '{"epoch": 1, "update": 1.1, "loss": "14.0", "acc_anchor": "0.05", "num_updates": "10"}\n'
    '{"epoch": 1, "update": 1.2, "loss": "13.0", "acc_anchor": "0.08", "num_updates": "20"}\n'
    '{"epoch": 1, "valid_loss": "12.5", "valid_pnmi_anchor": "0.45", "valid_num_updates": "20"}\n'
)


def load_script():
    spec = importlib.util.spec_from_file_location("plot_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_simple_and_json_logs_parse_to_the_logged_values():
    plot_training = load_script()
    simple = plot_training.parse_log(SIMPLE_LOG)
    assert simple["loss"] == [(10, 13.5), (20, 12.2), (30, 11.9)]  # valid lines are not updates
    assert simple["enhanced_codes_used"] == [(10, 148.5), (20, 54.6)]  # None: no value
    assert simple["valid_loss"] == [(10, 12.1)]
    assert simple["valid_pnmi_enhanced"] == [(10, 0.103)]
    parsed = plot_training.parse_log(JSON_LOG)
    assert parsed["acc_anchor"] == [(10, 0.05), (20, 0.08)]
    assert parsed["loss"] == [(10, 14.0), (20, 13.0)]
    assert parsed["valid_pnmi_anchor"] == [(20, 0.45)]


def test_command_writes_a_png_per_logged_metric(tmp_path):
    plot_training = load_script()
    (tmp_path / "birq.log").write_text(SIMPLE_LOG)
    (tmp_path / "bestrq.log").write_text(JSON_LOG)
    out = tmp_path / "plots"
    assert plot_training.main([str(tmp_path / "birq.log"), str(tmp_path / "bestrq.log"),
                               "--out", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["acc_anchor.png", "enhanced_codes_used.png", "loss.png", "loss_anchor.png",
                       "valid_loss.png", "valid_pnmi_anchor.png", "valid_pnmi_enhanced.png"]
    assert all((out / name).read_bytes().startswith(PNG_MAGIC) for name in written)
