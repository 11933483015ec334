"""Training-step speed and memory of BiRQ, BEST-RQ and wav2vec 2.0 on one audio batch.

Five systems train on the same batch in one process, round-robin (the order rotates every
round), so machine noise hits them alike:

* ``birq``          BiRQ, enhanced loss weight 0.1, the target gradient kept;
* ``birq_warmup``   the same model during w1's warm-up (``enhanced_warmup_updates``), whose
  steps skip the unmasked pass;
* ``birq_detached`` the same with ``detach_enhanced_targets=True``;
* ``bestrq``        ``enhanced_weight=0`` (no unmasked pass at all);
* ``wav2vec2``      fairseq's ``Wav2Vec2Model`` (512-channel conv feature extractor, BASE
  pretraining settings) trained with fairseq's ``wav2vec`` criterion (InfoNCE);
* with ``--compile``, ``bestrq_compiled`` and ``birq_compiled``: the same models built with
  ``compile_encoder=True``, timed in the same rounds, so compiled / eager is a paired ratio.

A step is forward through the real criterion, backward and ``torch.optim.AdamW.step``.
The wav2vec 2.0 Transformer has the Conformer's width and the number of layers that brings
its *encoder* parameters (everything between the waveform frontend and the pretraining
heads) closest to BEST-RQ's (subsampling + Conformer); see ``README.md`` next to this file.

    python examples/benchmarks/train_speed.py --device cpu --size demo --json out.json
"""

import argparse
import ctypes
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

SYSTEMS = ("birq", "birq_warmup", "birq_detached", "bestrq", "wav2vec2")
COMPILED_SUFFIX = "_compiled"
COMPILED_SYSTEMS = ("birq" + COMPILED_SUFFIX, "bestrq" + COMPILED_SUFFIX)
SAMPLE_RATE = 16_000
SPEECH_GLOB = "/usr/share/pocketsphinx/test/data/librivox/*.wav"
NOISE_STD = 0.1
MATCH_TOLERANCE = 0.10  # wav2vec 2.0 encoder parameters within 10 % of BEST-RQ's
MAX_WAV2VEC2_LAYERS = 64
MEMORY_PROBE_TAG = "MEMORY_PROBE "

# The model of config/pretraining/birq_demo.yaml, and the BiRQ paper's C2 (d_model inferred).
SIZES = {
    "demo": dict(
        encoder_layers=4,
        encoder_embed_dim=144,
        encoder_ffn_embed_dim=576,
        encoder_attention_heads=4,
        subsampling_channels=64,
        codebook_size=1024,
        enhanced_codebook_size=1024,
        enhanced_layer=3,
    ),
    "base": dict(
        encoder_layers=10,
        encoder_embed_dim=768,
        encoder_ffn_embed_dim=3072,
        encoder_attention_heads=12,
        subsampling_channels=256,
        codebook_size=8192,
        enhanced_codebook_size=8192,
        enhanced_layer=7,
    ),
}

# fairseq's wav2vec 2.0 BASE pretraining recipe (examples/wav2vec/config/pretraining/
# wav2vec2_base_librispeech.yaml), except LayerDrop 0 so every step runs every layer.
WAV2VEC2_BASE_SETTINGS = dict(
    quantize_targets=True,
    final_dim=256,
    latent_vars=320,
    latent_groups=2,
    num_negatives=100,
    feature_grad_mult=0.1,
    dropout_input=0.1,
    dropout_features=0.1,
    encoder_layerdrop=0.0,
    mask_prob=0.65,
)
WAV2VEC2_LOSS_WEIGHTS = [0.1, 10.0]  # codebook diversity, feature penalty

BIRQ_WEIGHTS = {  # (enhanced_weight w1, anchor_weight w2, detach_enhanced_targets)
    "birq": (0.1, 2.4, False),
    "birq_warmup": (0.1, 2.4, False),
    "birq_detached": (0.1, 2.4, True),
    "bestrq": (0.0, 1.0, False),
}

# Dense peak FLOP/s per card (no sparsity), by substring of torch.cuda.get_device_name();
# the first match wins, so specific names come first. "fp32" is the non-tensor-core rate,
# "tf32" applies to fp32 when torch.backends.cuda.matmul.allow_tf32 is on.
PEAK_FLOPS = (
    ("H100 PCIe", {"bf16": 756e12, "fp16": 756e12, "tf32": 378e12, "fp32": 51.2e12}),
    ("H100 NVL", {"bf16": 835e12, "fp16": 835e12, "tf32": 418e12, "fp32": 60e12}),
    ("H100", {"bf16": 989e12, "fp16": 989e12, "tf32": 495e12, "fp32": 67e12}),
    ("H200", {"bf16": 989e12, "fp16": 989e12, "tf32": 495e12, "fp32": 67e12}),
    ("A100", {"bf16": 312e12, "fp16": 312e12, "tf32": 156e12, "fp32": 19.5e12}),
    ("L40S", {"bf16": 362e12, "fp16": 362e12, "tf32": 183e12, "fp32": 91.6e12}),
    ("L4", {"bf16": 121e12, "fp16": 121e12, "tf32": 60e12, "fp32": 30.3e12}),
    ("V100", {"fp16": 125e12, "fp32": 15.7e12}),
)

# (json key, threshold, "min" = value must be >= threshold, "max" = value must be <=,
#  "below" = value must be < threshold, text)
GOALS = (
    ("bestrq_speedup_vs_wav2vec2", 2.5, "min", "BEST-RQ >= 2.5x wav2vec 2.0 throughput"),
    ("birq_step_ratio_vs_bestrq", 1.75, "max", "BiRQ step <= 1.75x BEST-RQ"),
    ("birq_detached_step_ratio_vs_bestrq", 1.3, "max", "detached BiRQ step <= 1.3x BEST-RQ"),
    ("birq_warmup_step_ratio_vs_bestrq", 1.1, "max", "BiRQ warm-up step <= 1.1x BEST-RQ"),
    ("birq_peak_mem_ratio_vs_bestrq", 1.5, "max", "BiRQ peak memory <= 1.5x BEST-RQ"),
    ("frontend_share", 0.02, "below", "log-mel frontend < 2 % of a BEST-RQ step"),
    ("anchor_label_share", 0.05, "below", "anchor labels < 5 % of a BEST-RQ step"),
)

# Added with --compile: (json key, threshold, kind, text) as in GOALS.
COMPILE_GOALS = (
    ("bestrq_compiled_step_ratio_vs_eager", 0.8, "max", "compiled BEST-RQ step <= 0.8x eager"),
)

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


# --- audio ---------------------------------------------------------------------------------
def load_batch(batch: int, seconds: float, seed: int) -> tuple[Tensor, str]:
    """(batch, seconds * 16 kHz) float32 audio and where it came from.

    Real read speech (pocketsphinx's LibriVox utterances, concatenated) when installed,
    utterance ``i`` starting ``i / batch`` of the way through and wrapping around;
    otherwise Gaussian noise."""
    samples = int(round(seconds * SAMPLE_RATE))
    clips = []
    for path in sorted(glob.glob(SPEECH_GLOB)):
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        if rate == SAMPLE_RATE:
            clips.append(audio.mean(axis=1))
    if not clips:
        generator = torch.Generator().manual_seed(seed)
        return NOISE_STD * torch.randn(batch, samples, generator=generator), "noise"
    speech = np.concatenate(clips)
    rows = []
    for i in range(batch):
        start = i * len(speech) // batch
        rows.append(np.take(speech, np.arange(start, start + samples), mode="wrap"))
    name = f"speech ({len(clips)} LibriVox files, {len(speech) / SAMPLE_RATE:.1f} s, cropped)"
    return torch.from_numpy(np.stack(rows)), name


# --- systems -------------------------------------------------------------------------------
@dataclass
class System:
    name: str
    model: nn.Module
    loss: Callable[[Tensor, int], Tensor]  # (audio, step) -> scalar loss
    optimizer: torch.optim.Optimizer
    params: dict


def eager_name(system: str) -> str:
    return system.removesuffix(COMPILED_SUFFIX)


def birq_config(size: str, system: str):
    from birq_fairseq.models.birq_config import BirqConfig

    enhanced_weight, anchor_weight, detach = BIRQ_WEIGHTS[eager_name(system)]
    return BirqConfig(
        **SIZES[size],
        enhanced_weight=enhanced_weight,
        anchor_weight=anchor_weight,
        detach_enhanced_targets=detach,
        # the benchmark never advances num_updates, so this model stays in the warm-up
        enhanced_warmup_updates=1 if eager_name(system) == "birq_warmup" else 0,
        compile_encoder=system.endswith(COMPILED_SUFFIX),
    )


def count_params(model: nn.Module, groups: dict[str, tuple[str, ...]]) -> dict:
    """Trainable parameters per group of child-module prefixes, plus ``total``."""
    counts = dict.fromkeys(groups, 0)
    total = 0
    for name, param in model.named_parameters():
        total += param.numel()
        for group, prefixes in groups.items():
            if any(name == p or name.startswith(p + ".") for p in prefixes):
                counts[group] += param.numel()
                break
        else:
            raise ValueError(f"parameter {name} belongs to no group")
    counts["total"] = total
    return counts


BIRQ_GROUPS = {
    "frontend": ("frontend",),
    "encoder": ("subsampling", "encoder"),
    "pretraining_heads": ("anchor_head", "enhanced_head", "anchor_quantizer", "enhanced_quantizer"),
}
WAV2VEC2_GROUPS = {
    "frontend": ("feature_extractor", "layer_norm"),
    "encoder": ("post_extract_proj", "encoder", "mask_emb"),
    "pretraining_heads": ("quantizer", "project_q", "final_proj"),
}


def build_birq(size: str, system: str):
    from birq_fairseq.criterions.birq import BirqCriterion
    from birq_fairseq.models.birq import BirqModel

    cfg = birq_config(size, system)
    model = BirqModel(cfg)
    criterion = BirqCriterion(None, cfg.enhanced_weight, cfg.anchor_weight)

    def loss(audio: Tensor, step: int) -> Tensor:
        return criterion(model, {"net_input": {"source": audio, "rng_seed": step}})[0]

    return model, loss, count_params(model, BIRQ_GROUPS)


def wav2vec2_config(size: str, layers: int):
    from fairseq.models.wav2vec.wav2vec2 import Wav2Vec2Config

    dims = SIZES[size]
    return Wav2Vec2Config(
        encoder_layers=layers,
        encoder_embed_dim=dims["encoder_embed_dim"],
        encoder_ffn_embed_dim=dims["encoder_ffn_embed_dim"],
        encoder_attention_heads=dims["encoder_attention_heads"],
        **WAV2VEC2_BASE_SETTINGS,
    )


def wav2vec2_layers(size: str, target_encoder_params: int) -> int:
    """Transformer layers whose wav2vec 2.0 encoder parameters come closest to the target
    (encoder parameters are linear in the layer count; two small builds give the line)."""
    from fairseq.models.wav2vec.wav2vec2 import Wav2Vec2Model

    one, two = (
        count_params(Wav2Vec2Model(wav2vec2_config(size, n)), WAV2VEC2_GROUPS)["encoder"]
        for n in (1, 2)
    )
    per_layer, fixed = two - one, 2 * one - two
    layers = round((target_encoder_params - fixed) / per_layer)
    return min(max(layers, 1), MAX_WAV2VEC2_LAYERS)


def build_wav2vec2(size: str, target_encoder_params: int):
    from fairseq.criterions.wav2vec_criterion import Wav2vecCriterion
    from fairseq.models.wav2vec.wav2vec2 import Wav2Vec2Model

    layers = wav2vec2_layers(size, target_encoder_params)
    model = Wav2Vec2Model(wav2vec2_config(size, layers))
    # fairseq trains wav2vec 2.0 in half precision by casting the model (--fp16 / --bf16 with
    # an fp32 master copy), not under autocast, where writing the fp32 mask_emb into the
    # half-precision output of post_extract_proj fails; that output is made fp32 here
    # (matmuls after it still run in the autocast dtype).
    model.post_extract_proj.register_forward_hook(lambda module, inputs, output: output.float())
    criterion = Wav2vecCriterion(None, infonce=True, loss_weights=list(WAV2VEC2_LOSS_WEIGHTS))

    def loss(audio: Tensor, step: int) -> Tensor:
        ids = torch.arange(audio.size(0), device=audio.device)
        return criterion(model, {"id": ids, "net_input": {"source": audio}})[0]

    params = count_params(model, WAV2VEC2_GROUPS)
    params["layers"] = layers
    return model, loss, params


def bestrq_encoder_params(size: str) -> int:
    from birq_fairseq.models.birq import BirqModel

    return count_params(BirqModel(birq_config(size, "bestrq")), BIRQ_GROUPS)["encoder"]


def build_system(name: str, size: str, device: torch.device, seed: int) -> System:
    torch.manual_seed(seed)
    if name == "wav2vec2":
        model, loss, params = build_wav2vec2(size, bestrq_encoder_params(size))
    else:
        model, loss, params = build_birq(size, name)
        params["layers"] = model.cfg.encoder_layers
    model.to(device).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    # fused on CUDA: one kernel per step instead of a dozen launches per parameter group,
    # launch time every system would otherwise pay alike (on an H200 it took BEST-RQ's base
    # bf16 step from 88.3 to 79.5 ms)
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, fused=device.type == "cuda")
    return System(name, model, loss, optimizer, params)


# --- one training step ---------------------------------------------------------------------
class Runner:
    """Runs and times training steps under the chosen device and autocast dtype."""

    def __init__(self, device: torch.device, dtype: str):
        self.device = device
        self.amp_dtype = DTYPES[dtype]
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.step_index = 0

    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def step(self, system: System, audio: Tensor):
        """One full training step: zero grads, forward + loss, backward, AdamW step."""
        self.step_index += 1
        system.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            loss = system.loss(audio, self.step_index)
        if self.amp_dtype == torch.float16:
            scaler = self.scalers.setdefault(system.name, torch.amp.GradScaler(self.device.type))
            scaler.scale(loss).backward()
            scaler.step(system.optimizer)
            scaler.update()
        else:
            loss.backward()
            system.optimizer.step()

    def timed(self, fn: Callable[[], object]) -> tuple[float, float]:
        """Wall-clock and process CPU seconds of ``fn()`` (CUDA work waited for)."""
        self.sync()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        self.sync()
        return time.perf_counter() - start, time.process_time() - start_cpu


# --- memory --------------------------------------------------------------------------------
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
SMALL_MMAP_THRESHOLD = 64 * 1024
# What glibc's dynamic thresholds settle at once large blocks have been freed (64-bit).
STEADY_MMAP_THRESHOLD = 32 * 1024 * 1024
STEADY_TRIM_THRESHOLD = 2 * STEADY_MMAP_THRESHOLD


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _set_malloc_thresholds(mmap_threshold: int, trim_threshold: int):
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)
    libc.mallopt(M_TRIM_THRESHOLD, trim_threshold)
    libc.malloc_trim(0)


def resident_state_bytes(system: System) -> int:
    """Bytes held between steps: parameters, buffers and optimiser state."""
    tensors = list(system.model.parameters()) + list(system.model.buffers())
    for state in system.optimizer.state.values():
        tensors += [v for v in state.values() if torch.is_tensor(v)]
    return sum(t.numel() * t.element_size() for t in tensors)


def measure_memory(runner: Runner, system: System, audio: Tensor) -> dict:
    """Peak memory of one training step (the system has already run at least one step).

    ``step_bytes`` is what a step adds on top of what is held between steps (activations,
    gradients, optimiser temporaries): on CUDA the allocator's exact peak minus what was
    allocated before; on CPU the rise of the resident set's high-water mark (VmHWM, reset
    through /proc/self/clear_refs) with glibc returning freed blocks to the kernel.
    ``peak_bytes = resident_state_bytes + step_bytes``."""
    system.optimizer.zero_grad(set_to_none=True)
    if runner.device.type == "cuda":
        runner.sync()
        before = torch.cuda.memory_allocated(runner.device)
        torch.cuda.reset_peak_memory_stats(runner.device)
        runner.step(system, audio)
        runner.sync()
        step_bytes = torch.cuda.max_memory_allocated(runner.device) - before
        method = "torch.cuda.max_memory_allocated"
    else:
        # glibc hands every freed block of >= 64 KiB back to the kernel during the
        # measurement, so the resident set follows live tensors rather than malloc's cache.
        _set_malloc_thresholds(SMALL_MMAP_THRESHOLD, SMALL_MMAP_THRESHOLD)
        try:
            before_kib = _proc_status_kib("VmRSS")
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")  # resets VmHWM to the current VmRSS
            runner.step(system, audio)
            step_bytes = 1024 * (_proc_status_kib("VmHWM") - before_kib)
        except OSError:
            return {"memory_method": "unavailable (needs Linux /proc/self/clear_refs)"}
        finally:
            _set_malloc_thresholds(STEADY_MMAP_THRESHOLD, STEADY_TRIM_THRESHOLD)
        method = "VmHWM rise (clear_refs 5), glibc mmap threshold 64 KiB"
    state = resident_state_bytes(system)
    return {
        "state_bytes": state,
        "step_bytes": step_bytes,
        "peak_bytes": state + step_bytes,
        "memory_method": method,
    }


def probe_memory_in_subprocess(args: argparse.Namespace, name: str) -> dict:
    """Runs ``measure_memory`` for one system in a fresh Python process (CPU): only that
    model lives there, so nothing else competes for the resident set."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--memory-probe", name,
        "--device", args.device,
        "--dtype", args.dtype,
        "--size", args.size,
        "--batch", str(args.batch),
        "--seconds", str(args.seconds),
        "--seed", str(args.seed),
    ]
    if args.threads:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(MEMORY_PROBE_TAG):
            return json.loads(line[len(MEMORY_PROBE_TAG):])
    raise RuntimeError(f"memory probe for {name} failed:\n{done.stderr[-4000:]}")


# --- FLOPs ---------------------------------------------------------------------------------
def _cpu_sdpa_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_sdpa_backward_flops(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


# PyTorch's table has the CUDA attention kernels only; on CPU attention without dropout
# runs the fused kernel below (with dropout it runs as bmm, which is counted anyway).
CPU_SDPA_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flops,
}
FLOP_COUNT_STEPS = 2


def count_step_flops(runner: Runner, system: System, audio: Tensor) -> list[int]:
    """FLOPs (matmuls, convolutions, attention; forward + backward) of each of two training
    steps, counted with ``FlopCounterMode``. Two, because in one long run on a busy machine
    it reported 9.1 GFLOP for a BiRQ step that counts 25.7 GFLOP every other time; the
    larger count is the one used."""
    counts = []
    for _ in range(FLOP_COUNT_STEPS):
        with FlopCounterMode(display=False, custom_mapping=CPU_SDPA_FLOPS) as counter:
            runner.step(system, audio)
        counts.append(int(counter.get_total_flops()))
    return counts


def count_step_ops(runner: Runner, system: System, audio: Tensor) -> dict:
    """What one training step launches, from torch.profiler: ``cpu_ops`` every operator
    event the host records (aten operators, compiled graphs and their extern calls,
    autograd nodes), ``aten_ops`` the aten ones alone, and on CUDA ``kernels``, the GPU
    kernels and copies. Fusion shows as fewer of each."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    on_cuda = runner.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
    runner.sync()
    with profile(activities=activities) as profiler:
        runner.step(system, audio)
        runner.sync()
    events = profiler.events()
    host = [e for e in events if e.device_type == DeviceType.CPU and not e.is_user_annotation]
    counts = {
        "cpu_ops": len(host),
        "aten_ops": sum(e.name.startswith("aten::") for e in host),
    }
    if on_cuda:
        counts["kernels"] = sum(e.device_type != DeviceType.CPU for e in events)
    return counts


def peak_flops(device: torch.device, dtype: str) -> tuple[str, float | None]:
    if device.type != "cuda":
        return cpu_model_name(), None
    name = torch.cuda.get_device_name(device)
    key = dtype
    if dtype == "fp32" and torch.backends.cuda.matmul.allow_tf32:
        key = "tf32"
    for pattern, table in PEAK_FLOPS:
        if pattern in name:
            return name, table.get(key)
    return name, None


# --- profile -------------------------------------------------------------------------------
PROFILE_STEPS = 3
PROFILE_ROWS = 25


def profile_jobs(
    runner: Runner, jobs: list[tuple[str, Callable[[], object]]], path: str | None
) -> dict[str, float]:
    """Runs each job ``PROFILE_STEPS`` times under torch.profiler. Returns, on CUDA, the
    GPU's busy time per run of each job (the sum of its kernels' times): when the host
    cannot launch kernels as fast as the GPU runs them, a step's wall-clock time measures
    the host, and this says what the GPU work alone costs. With ``path``, writes each job's
    operator table (self time, largest first), to find where a step's time goes."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    on_cuda = runner.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
    sort_by = "self_device_time_total" if on_cuda else "self_cpu_time_total"
    device_time = {}
    with open(path, "w") if path else nullcontext() as out:
        for name, job in jobs:
            runner.sync()
            with profile(activities=activities) as profiler:
                for _ in range(PROFILE_STEPS):
                    job()
                runner.sync()
            averages = profiler.key_averages()
            if on_cuda:
                # kernels and copies only: a CPU operator's row repeats its kernels' time
                busy_us = sum(
                    event.self_device_time_total
                    for event in averages
                    if event.device_type != DeviceType.CPU and not event.is_user_annotation
                )
                device_time[name] = busy_us / 1e6 / PROFILE_STEPS
            if out:
                out.write(f"== {name}: {PROFILE_STEPS} runs ==\n")
                out.write(averages.table(sort_by=sort_by, row_limit=PROFILE_ROWS))
                out.write("\n\n")
    return device_time


def device_time_ratios(device_time: dict[str, float]) -> dict:
    """The headline ratios from GPU busy time (see ``profile_jobs``)."""
    return {
        "per_run_s": device_time,
        "bestrq_speedup_vs_wav2vec2": device_time["wav2vec2"] / device_time["bestrq"],
        "birq_step_ratio_vs_bestrq": device_time["birq"] / device_time["bestrq"],
        "birq_detached_step_ratio_vs_bestrq": device_time["birq_detached"]
        / device_time["bestrq"],
        "frontend_share": device_time["frontend"] / device_time["bestrq"],
        "anchor_label_share": device_time["anchor_labels"] / device_time["bestrq"],
    }


# --- the benchmark -------------------------------------------------------------------------
def cpu_model_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict:
    info = {
        "cpu_model": cpu_model_name(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def median_and_spread(times: list[float]) -> dict:
    quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"median_s": statistics.median(times), "q1_s": quartiles[0], "q3_s": quartiles[2]}


def paired_ratio(times: dict[str, list[float]], name: str, reference: str) -> float:
    """Median over rounds of this system's time over the reference's in the same round: less
    sensitive than a ratio of medians to load that drifts over the run."""
    return statistics.median(t / r for t, r in zip(times[name], times[reference]))


def cpu_time_ratios(cpu_times: dict[str, list[float]]) -> dict:
    """The headline ratios from process CPU time (CPU device only): time other processes
    take from this one does not count, so on a busy machine these vary less than wall-clock
    ratios (with several threads, OpenMP's spin-waiting does count)."""
    med = {name: statistics.median(values) for name, values in cpu_times.items()}
    return {
        "median_s": med,
        "bestrq_speedup_vs_wav2vec2": med["wav2vec2"] / med["bestrq"],
        "birq_step_ratio_vs_bestrq": med["birq"] / med["bestrq"],
        "birq_detached_step_ratio_vs_bestrq": med["birq_detached"] / med["bestrq"],
        "birq_warmup_step_ratio_vs_bestrq": med["birq_warmup"] / med["bestrq"],
        "frontend_share": med["frontend"] / med["bestrq"],
        "anchor_label_share": med["anchor_labels"] / med["bestrq"],
    }


def run_benchmark(args: argparse.Namespace) -> dict:
    from birq_fairseq.modules.logmel import stack_frames
    from birq_fairseq.modules.subsampling import SUBSAMPLING_FACTOR

    device = torch.device(args.device)
    runner = Runner(device, args.dtype)
    audio, audio_source = load_batch(args.batch, args.seconds, args.seed)
    audio = audio.to(device)
    names = SYSTEMS + (COMPILED_SYSTEMS if args.compile else ())
    systems = [build_system(name, args.size, device, args.seed) for name in names]
    by_name = {s.name: s for s in systems}
    bestrq = by_name["bestrq"].model

    def frontend():
        with runner.autocast():
            return bestrq.frontend(audio)

    feats = frontend()[0]

    def anchor_labels():
        with runner.autocast():
            return bestrq.anchor_quantizer(stack_frames(feats, SUBSAMPLING_FACTOR))

    # Round-robin: each round times every system's step, the frontend and the anchor labels,
    # in an order that rotates by one each round; warm-up rounds are discarded.
    jobs = [(s.name, lambda s=s: runner.step(s, audio)) for s in systems]
    jobs += [("frontend", frontend), ("anchor_labels", anchor_labels)]
    times: dict[str, list[float]] = {name: [] for name, _ in jobs}
    cpu_times: dict[str, list[float]] = {name: [] for name, _ in jobs}
    rounds = args.warmup + args.steps
    for round_index in range(rounds):
        shift = round_index % len(jobs)
        for name, job in jobs[shift:] + jobs[:shift]:
            elapsed, elapsed_cpu = runner.timed(job)
            if round_index >= args.warmup:
                times[name].append(elapsed)
                cpu_times[name].append(elapsed_cpu)
        if args.verbose:
            print(f"round {round_index + 1}/{rounds} done", file=sys.stderr, flush=True)

    device_time = {}
    if args.profile or device.type == "cuda":
        device_time = profile_jobs(runner, jobs, args.profile)

    audio_seconds = args.batch * args.seconds
    accelerator, peak = peak_flops(device, args.dtype)
    table = {}
    for system in systems:
        stats = median_and_spread(times[system.name])
        row = {
            **stats,
            "audio_s_per_s": audio_seconds / stats["median_s"],
            "paired_step_ratio_vs_bestrq": paired_ratio(times, system.name, "bestrq"),
            "params": system.params,
        }
        if device.type == "cpu":
            row["cpu_median_s"] = statistics.median(cpu_times[system.name])
        if system.name in device_time:
            row["device_time_s"] = device_time[system.name]
        if args.compile:
            row.update(count_step_ops(runner, system, audio))
        if args.flops:
            # A compiled model does the eager twin's arithmetic; its FLOPs are the twin's
            # (FlopCounterMode would count the graphs as they are being traced again).
            if system.name.endswith(COMPILED_SUFFIX):
                row["flop_counts"] = table[eager_name(system.name)]["flop_counts"]
            else:
                row["flop_counts"] = count_step_flops(runner, system, audio)
            row["flops_per_step"] = max(row["flop_counts"])
            row["achieved_flops_per_s"] = row["flops_per_step"] / stats["median_s"]
            if peak is not None:
                row["mfu"] = row["achieved_flops_per_s"] / peak
                if "device_time_s" in row:
                    row["mfu_device_time"] = row["flops_per_step"] / row["device_time_s"] / peak
        table[system.name] = row

    for system in systems:
        if args.memory == "subprocess":
            memory = probe_memory_in_subprocess(args, system.name)
        elif args.memory == "inprocess":
            memory = measure_memory(runner, system, audio)
        else:
            memory = {}
        table[system.name].update(memory)

    step = {name: table[name]["median_s"] for name in SYSTEMS}
    bestrq_step = step["bestrq"]
    result = {
        "bestrq_speedup_vs_wav2vec2": step["wav2vec2"] / bestrq_step,
        "birq_step_ratio_vs_bestrq": step["birq"] / bestrq_step,
        "birq_detached_step_ratio_vs_bestrq": step["birq_detached"] / bestrq_step,
        "birq_warmup_step_ratio_vs_bestrq": step["birq_warmup"] / bestrq_step,
        "frontend_share": statistics.median(times["frontend"]) / bestrq_step,
        "anchor_label_share": statistics.median(times["anchor_labels"]) / bestrq_step,
        "frontend_median_s": statistics.median(times["frontend"]),
        "anchor_labels_median_s": statistics.median(times["anchor_labels"]),
        "anchor_label_frames": int(feats.size(0) * (feats.size(1) // SUBSAMPLING_FACTOR)),
    }
    if "peak_bytes" in table["bestrq"]:
        result["birq_peak_mem_ratio_vs_bestrq"] = (
            table["birq"]["peak_bytes"] / table["bestrq"]["peak_bytes"]
        )
        result["birq_detached_peak_mem_ratio_vs_bestrq"] = (
            table["birq_detached"]["peak_bytes"] / table["bestrq"]["peak_bytes"]
        )
    if device.type == "cpu":
        result["cpu_time"] = cpu_time_ratios(cpu_times)
    if device_time:
        result["device_time"] = device_time_ratios(device_time)
    if args.compile:
        result.update(compiled_ratios(times, table, device_time))
    result["encoder_param_ratio_wav2vec2_vs_bestrq"] = (
        table["wav2vec2"]["params"]["encoder"] / table["bestrq"]["params"]["encoder"]
    )
    result["goals"] = evaluate_goals(result, GOALS + (COMPILE_GOALS if args.compile else ()))
    result["systems"] = table
    result["settings"] = {
        "device": args.device,
        "dtype": args.dtype,
        "size": args.size,
        "batch": args.batch,
        "seconds": args.seconds,
        "audio_seconds_per_step": audio_seconds,
        "steps": args.steps,
        "warmup": args.warmup,
        "audio": audio_source,
        "memory": args.memory,
        "peak_flops_per_s": peak,
        "accelerator": accelerator,
        "wav2vec2": {**WAV2VEC2_BASE_SETTINGS, "loss_weights": WAV2VEC2_LOSS_WEIGHTS},
    }
    result["machine"] = machine_info(device)
    return result


def compiled_ratios(
    times: dict[str, list[float]], table: dict, device_time: dict[str, float]
) -> dict:
    """Compiled over eager, per compiled system: paired step time, peak memory, operators
    per step and (CUDA) GPU busy time."""
    ratios = {}
    for name in COMPILED_SYSTEMS:
        eager, compiled = table[eager_name(name)], table[name]
        ratios[f"{name}_step_ratio_vs_eager"] = paired_ratio(times, name, eager_name(name))
        for key in ("peak_bytes", "cpu_ops", "kernels"):
            if key in compiled and key in eager:
                ratios[f"{name}_{key}_ratio_vs_eager"] = compiled[key] / eager[key]
        if name in device_time:
            ratios[f"{name}_device_time_ratio_vs_eager"] = (
                device_time[name] / device_time[eager_name(name)]
            )
    return ratios


def evaluate_goals(result: dict, goals_wanted: tuple = GOALS) -> dict:
    goals = {}
    for key, threshold, kind, text in goals_wanted:
        value = result.get(key)
        if value is None:
            status = "n/a"
        elif kind == "min":
            status = "PASS" if value >= threshold else "MISS"
        elif kind == "max":
            status = "PASS" if value <= threshold else "MISS"
        else:
            status = "PASS" if value < threshold else "MISS"
        goals[key] = {"value": value, "threshold": threshold, "status": status, "goal": text}
    return goals


# --- output --------------------------------------------------------------------------------
def _mib(value) -> str:
    return "-" if value is None else f"{value / 2**20:9.1f}"


def format_report(result: dict) -> str:
    settings, machine = result["settings"], result["machine"]
    lines = [
        f"device {settings['device']} ({settings['accelerator']}), dtype {settings['dtype']}, "
        f"size {settings['size']}, batch {settings['batch']} x {settings['seconds']} s "
        f"of {settings['audio']}",
        f"torch {machine['torch']}, {machine['threads']} threads, cpu {machine['cpu_model']}; "
        f"{settings['steps']} timed rounds after {settings['warmup']} warm-up",
        "",
        f"{'system':<16}{'layers':>7}{'enc M':>7}{'total M':>8}{'step ms':>9}{'q1-q3 ms':>16}"
        f"{'cpu ms':>9}{'gpu ms':>9}{'x bestrq':>9}{'audio s/s':>10}{'peak MiB':>10}"
        f"{'step MiB':>10}{'GFLOP':>8}{'MFU':>7}",
    ]
    for name, row in result["systems"].items():
        params = row["params"]
        flops = row.get("flops_per_step")
        mfu = row.get("mfu")
        spread = f"{1e3 * row['q1_s']:.1f}-{1e3 * row['q3_s']:.1f}"
        gflop = "-" if flops is None else f"{flops / 1e9:.1f}"
        mfu_text = "-" if mfu is None else f"{100 * mfu:.1f}%"
        cpu = row.get("cpu_median_s")
        cpu_text = "-" if cpu is None else f"{1e3 * cpu:.1f}"
        gpu = row.get("device_time_s")
        gpu_text = "-" if gpu is None else f"{1e3 * gpu:.1f}"
        lines.append(
            f"{name:<16}{params['layers']:>7}{params['encoder'] / 1e6:>7.2f}"
            f"{params['total'] / 1e6:>8.2f}{1e3 * row['median_s']:>9.1f}{spread:>16}"
            f"{cpu_text:>9}{gpu_text:>9}{row['paired_step_ratio_vs_bestrq']:>9.3f}"
            f"{row['audio_s_per_s']:>10.1f}{_mib(row.get('peak_bytes')):>10}"
            f"{_mib(row.get('step_bytes')):>10}{gflop:>8}{mfu_text:>7}"
        )
    lines += [
        "",
        f"frontend alone {1e3 * result['frontend_median_s']:.2f} ms, anchor labels "
        f"({result['anchor_label_frames']} frames) {1e3 * result['anchor_labels_median_s']:.2f}"
        " ms",
        f"wav2vec 2.0 / BEST-RQ encoder parameters: "
        f"{result['encoder_param_ratio_wav2vec2_vs_bestrq']:.3f}",
        "",
    ]
    if any(name.endswith(COMPILED_SUFFIX) for name in result["systems"]):
        lines += [format_compiled(result), ""]
    cpu_ratios = result.get("cpu_time", {})
    gpu_ratios = result.get("device_time", {})
    for key, goal in result["goals"].items():
        value = goal["value"]
        shown = "-" if value is None else f"{value:.4f}"
        line = f"{goal['status']:<5} {goal['goal']:<44} measured {shown}"
        if key in cpu_ratios:
            line += f"  (CPU time: {cpu_ratios[key]:.4f})"
        if key in gpu_ratios:
            line += f"  (GPU busy time: {gpu_ratios[key]:.4f})"
        lines.append(line)
    return "\n".join(lines)


def _before_after(pair: tuple[dict, dict], key: str, scale: float = 1.0) -> str:
    eager, compiled = pair
    if key not in compiled or key not in eager:
        return "-"
    return f"{eager[key] / scale:.0f} -> {compiled[key] / scale:.0f}"


def format_compiled(result: dict) -> str:
    """Compiled vs eager: step time, operators (and CUDA kernels) per step, peak memory."""
    lines = [f"{'compiled / eager':<18}{'step':>8}{'GPU busy':>10}{'host ops/step':>20}"
             f"{'GPU kernels/step':>20}{'peak MiB':>22}"]
    for name in COMPILED_SYSTEMS:
        pair = result["systems"][eager_name(name)], result["systems"][name]
        busy = result.get(f"{name}_device_time_ratio_vs_eager")
        lines.append(
            f"{eager_name(name):<18}{result[f'{name}_step_ratio_vs_eager']:>8.3f}"
            f"{'-' if busy is None else f'{busy:.3f}':>10}{_before_after(pair, 'cpu_ops'):>20}"
            f"{_before_after(pair, 'kernels'):>20}"
            f"{_before_after(pair, 'peak_bytes', 2**20):>22}"
        )
    return "\n".join(lines)


# --- command line --------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="fp32", choices=sorted(DTYPES))
    parser.add_argument("--size", default="demo", choices=sorted(SIZES))
    parser.add_argument("--batch", type=int, default=4, help="utterances per batch")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds per utterance")
    parser.add_argument("--steps", type=int, default=10, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch intra-op threads; 0: 1 on CPU (see README: a busy core stalls every "
        "parallel op), torch's default on CUDA",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument(
        "--memory",
        choices=["auto", "subprocess", "inprocess", "off"],
        default="auto",
        help="peak-memory measurement: a fresh process per system (auto on CPU) or in this "
        "process after the timing (auto on CUDA)",
    )
    parser.add_argument(
        "--no-flops", dest="flops", action="store_false", help="skip the FLOP count"
    )
    parser.add_argument("--verbose", action="store_true", help="report each round on stderr")
    parser.add_argument(
        "--profile", metavar="PATH", help="write torch.profiler's operator table of each system"
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time BEST-RQ and BiRQ with compile_encoder=True (bestrq_compiled, "
        "birq_compiled), their operators per step and compiled / eager ratios; the warm-up "
        "rounds absorb the compilation",
    )
    parser.add_argument(
        "--memory-probe", choices=SYSTEMS + COMPILED_SYSTEMS, help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.threads == 0 and args.device == "cpu":
        args.threads = 1
    if args.memory == "auto":
        args.memory = "subprocess" if args.device == "cpu" else "inprocess"
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch.cuda.is_available() is False")
    if args.steps < 1 or args.warmup < 0 or args.batch < 1 or args.seconds <= 0:
        parser.error("--steps, --batch and --seconds must be positive, --warmup >= 0")
    if args.compile and args.warmup < 1:
        parser.error("--compile needs --warmup >= 1 (the first round compiles)")
    return args


def memory_probe(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    runner = Runner(device, args.dtype)
    audio = load_batch(args.batch, args.seconds, args.seed)[0].to(device)
    system = build_system(args.memory_probe, args.size, device, args.seed)
    runner.step(system, audio)  # allocates the optimiser state and warms the kernels
    return measure_memory(runner, system, audio)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_probe:
        memory = memory_probe(args)
        print(MEMORY_PROBE_TAG + json.dumps(memory), flush=True)
        return memory
    result = run_benchmark(args)
    print(format_report(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
