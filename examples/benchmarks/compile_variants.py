"""The inductor settings tried for the compiled CPU step, each timed against its eager twin
in one run (round-robin): ``default`` (inductor's own random kernels for dropout),
``eager_random`` (aten draws the masks, what ``compile_layers`` does without CUDA),
``max_autotune`` (inductor's C++ GEMM templates, its own random kernels) and
``with_subsampling`` (eager_random, and the convolutional subsampling compiled too).
Demo-size BEST-RQ, forward through the criterion, backward, AdamW.

    python examples/benchmarks/compile_variants.py --threads 1 [--variants default eager_random]
    python examples/benchmarks/compile_variants.py --threads 1 --layer

Each variant compiles for tens of seconds first (max_autotune longer). ``--layer`` instead
times one demo Conformer layer alone (forward and backward on the batch's frames, no
optimizer), compiled as ``compile_layers`` compiles it against eager, with its dropout,
without the attention weights' dropout only, and without any: what inductor's fusion buys
where nothing but the layer runs.
"""

import copy
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from conv_layout import DEMO, median_ms, noise_batch, timing_arguments, training_step  # noqa: E402,E501

from birq_fairseq.models.birq import BirqConfig, BirqModel  # noqa: E402
from birq_fairseq.modules.conformer import inductor_options  # noqa: E402

# Importing fairseq leaves the root logger at DEBUG, where inductor's file locks log a pair of
# lines for every kernel it compiles.
logging.getLogger().setLevel(logging.INFO)

VARIANTS = {
    "default": dict(eager_random=False),
    "eager_random": dict(eager_random=True),
    "max_autotune": dict(eager_random=False, mode="max-autotune-no-cudagraphs"),
    "with_subsampling": dict(eager_random=True),
}


def build(variant: str | None) -> BirqModel:
    torch.manual_seed(0)
    model = BirqModel(BirqConfig(**DEMO)).train()
    if variant is not None:
        model.encoder.compile_layers(**VARIANTS[variant])
    if variant == "with_subsampling":
        model.subsampling.compile(**inductor_options(eager_random=True))
    return model


def layer_step(layer: torch.nn.Module, x: torch.Tensor):
    inputs = layer.attention.shared_inputs(x.size(1), None, x.device)

    def step():
        layer(x, None, inputs).square().mean().backward()
    return step


def time_one_layer(args) -> None:
    torch.set_num_threads(args.threads)
    frames = round(args.seconds * 25)  # 40 ms frames after the 4x subsampling
    x = torch.randn(args.batch, frames, DEMO["encoder_embed_dim"], requires_grad=True)
    print(f"torch {torch.__version__}, {args.threads} thread(s), one demo Conformer layer on "
          f"{args.batch} x {frames} frames, forward + backward, median of {args.rounds} rounds")
    layer = build(None).encoder.layers[0]
    # "attention off": every dropout but the one on the attention weights, which alone sends
    # SDPA on CPU to its unfused math path (the fused CPU kernel takes no dropout).
    for dropout in ("on", "attention off", "off"):
        eager, compiled = (copy.deepcopy(layer).train(dropout != "off") for _ in range(2))
        if dropout == "attention off":
            eager.attention.dropout = compiled.attention.dropout = 0.0
        compiled.compile(**inductor_options())
        ms = median_ms({"eager": layer_step(eager, x), "compiled": layer_step(compiled, x)},
                       args.rounds)
        print(f"dropout {dropout:13s}  eager {ms['eager']:6.1f} ms   compiled "
              f"{ms['compiled']:6.1f} ms   ratio {ms['compiled'] / ms['eager']:.3f}")


def main() -> None:
    parser = timing_arguments(__doc__)
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--layer", action="store_true",
                        help="time one Conformer layer alone instead of the training step")
    args = parser.parse_args()
    if args.layer:
        time_one_layer(args)
        return
    source = noise_batch(args)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch} x "
          f"{args.seconds} s, median of {args.rounds} rounds, each against its eager twin")
    for variant in args.variants:
        ms = median_ms({"eager": training_step(build(None), source),
                        variant: training_step(build(variant), source)}, args.rounds)
        print(f"{variant:18s} eager {ms['eager']:7.1f} ms   compiled {ms[variant]:7.1f} ms   "
              f"ratio {ms[variant] / ms['eager']:.3f}")


if __name__ == "__main__":
    main()
