"""Data-parallel training on CPU processes: ``python -m birq_fairseq.cpu_ddp -n 2 -- ARGS``.

fairseq spawns one process per GPU and refuses a world size larger than the number of
GPUs, so several CPU processes must be launched by hand, each with its rank, the gloo
backend and ``legacy_ddp`` (PyTorch's DDP wrapper rejects CPU modules). This launcher
starts the ranks of ``fairseq-hydra-train ARGS`` with those settings on a free local port,
streams rank 0's output, and stops every rank as soon as one fails, printing the end of
the failed rank's own output (the other ranks' output goes to temporary files).
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .tools import tool_parser

POLL_SECONDS = 0.2
TAIL_LINES = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rank_command(train_args: list[str], rank: int, world_size: int, port: int) -> list[str]:
    """The fairseq-hydra-train command line of one rank; overrides go before --config-dir."""
    trainer = str(Path(sys.executable).with_name("fairseq-hydra-train"))
    overrides = [
        "common.cpu=true",
        f"distributed_training.distributed_world_size={world_size}",
        f"distributed_training.distributed_rank={rank}",
        "distributed_training.distributed_backend=gloo",
        f"distributed_training.distributed_init_method=tcp://127.0.0.1:{port}",
        "distributed_training.distributed_no_spawn=true",
        "distributed_training.ddp_backend=legacy_ddp",
        "distributed_training.device_id=0",
    ]
    return [trainer, *overrides, *train_args]


def launch(train_args: list[str], world_size: int) -> int:
    """Runs all ranks; returns the first non-zero exit status, or 0."""
    port = free_port()
    procs, logs = [], []
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    for rank in range(world_size):
        log = None if rank == 0 else tempfile.TemporaryFile(mode="w+")
        logs.append(log)
        procs.append(
            subprocess.Popen(rank_command(train_args, rank, world_size, port), stdout=log,
                             stderr=subprocess.STDOUT if rank else None, env=env)
        )
    try:
        while True:
            codes = [proc.poll() for proc in procs]
            failed = [rank for rank, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                for proc in procs:
                    if proc.poll() is None:
                        proc.kill()
                report_failure(failed, codes, logs)
                return codes[failed[0]]
            if all(code == 0 for code in codes):
                return 0
            time.sleep(POLL_SECONDS)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for log in logs:
            if log is not None:
                log.close()


def report_failure(failed: list[int], codes: list, logs: list) -> None:
    """Shows what a failed rank other than 0 printed: its traceback names the cause, while
    the surviving ranks only report a closed connection."""
    for rank in failed:
        if logs[rank] is not None:
            logs[rank].seek(0)
            tail = logs[rank].read().splitlines()[-TAIL_LINES:]
            print(f"cpu_ddp: last lines of rank {rank}:", *tail, sep="\n", file=sys.stderr)
    print(f"cpu_ddp: rank {failed[0]} exited with status {codes[failed[0]]}; stopped all ranks",
          file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser(
        "birq_fairseq.cpu_ddp",
        __doc__,
        usage="python -m birq_fairseq.cpu_ddp [-n N] -- FAIRSEQ_HYDRA_TRAIN_ARGS...",
    )
    parser.add_argument("-n", "--nprocs", type=int, default=2, help="number of CPU ranks")
    parser.add_argument("train_args", nargs=argparse.REMAINDER,
                        help="arguments of fairseq-hydra-train (after --)")
    args = parser.parse_args(argv)
    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    if args.nprocs < 1 or not train_args:
        parser.error("need --nprocs >= 1 and the fairseq-hydra-train arguments after --")
    return launch(train_args, args.nprocs)


if __name__ == "__main__":
    sys.exit(main())
