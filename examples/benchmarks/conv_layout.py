"""Channels-last against contiguous kernels in the 4x convolutional subsampling, side by
side in one run: the subsampling's forward and backward alone, and a whole demo-size BEST-RQ
training step (forward through the criterion, backward, AdamW), round-robin so that machine
noise hits both layouts alike.

    python examples/benchmarks/conv_layout.py --threads 1

``Conv2dSubsampling`` runs its convolutions with channels-last copies of its (contiguous)
weights; the ``contiguous`` twin (``channels_last=False``) runs them as stored.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from birq_fairseq.criterions.birq import BirqCriterion  # noqa: E402
from birq_fairseq.models.birq import BirqConfig, BirqModel  # noqa: E402

DEMO = dict(encoder_layers=4, encoder_embed_dim=144, encoder_ffn_embed_dim=576,
            encoder_attention_heads=4, subsampling_channels=64, codebook_size=1024,
            enhanced_weight=0.0, anchor_weight=1.0)
LAYOUTS = ("channels_last", "contiguous")


def build(layout: str) -> BirqModel:
    torch.manual_seed(0)
    model = BirqModel(BirqConfig(**DEMO)).train()
    model.subsampling.channels_last = layout == "channels_last"
    return model


def training_step(model: BirqModel, source: torch.Tensor):
    """One BEST-RQ step as pretraining takes it: the criterion, backward, AdamW."""
    criterion = BirqCriterion(None, 0.0, 1.0)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-4)

    def step():
        loss = criterion(model, {"net_input": {"source": source, "rng_seed": 1}})[0]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return step


def median_ms(steps: dict, rounds: int) -> dict[str, float]:
    for step in steps.values():  # warm-up: oneDNN primitives, allocator
        step(), step()
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(values) for name, values in times.items()}


def timing_arguments(doc: str) -> argparse.ArgumentParser:
    """The options both CPU step benchmarks share."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=6.0)
    return parser


def noise_batch(args: argparse.Namespace) -> torch.Tensor:
    """Sets the thread count and returns the fixed noise batch (B, samples) to time on."""
    torch.set_num_threads(args.threads)
    samples = int(args.seconds * 16000)
    return 0.1 * torch.randn(args.batch, samples, generator=torch.Generator().manual_seed(0))


def main() -> None:
    args = timing_arguments(__doc__).parse_args()
    source = noise_batch(args)
    models = {layout: build(layout) for layout in LAYOUTS}
    feats, lengths = models["contiguous"].frontend(source, None)

    def subsampling_step(model):
        def step():
            out = model.subsampling(feats, lengths)
            out.square().mean().backward()
            model.zero_grad(set_to_none=True)
        return step

    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch} x "
          f"{args.seconds} s, median of {args.rounds} rounds")
    for what, make in (("subsampling forward + backward", subsampling_step),
                       ("BEST-RQ training step", lambda m: training_step(m, source))):
        ms = median_ms({layout: make(models[layout]) for layout in LAYOUTS}, args.rounds)
        print(f"{what:32s} channels-last {ms['channels_last']:7.1f} ms   contiguous "
              f"{ms['contiguous']:7.1f} ms   ratio {ms['channels_last'] / ms['contiguous']:.3f}")


if __name__ == "__main__":
    main()
