"""Data-parallel training on CPU processes: ``python -m birq_fairseq.cpu_ddp -n 2 -- ARGS``.

fairseq spawns one process per GPU and refuses a world size larger than the number of
GPUs, so several CPU processes must be launched by hand, each with its rank, the gloo
backend and ``legacy_ddp`` (PyTorch's DDP wrapper rejects CPU modules). This launcher
starts the ranks of ``fairseq-hydra-train ARGS`` with those settings on a free local port,
streams rank 0's output, and stops every rank as soon as one fails.
"""

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.2


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
    procs = []
    for rank in range(world_size):
        output = None if rank == 0 else subprocess.DEVNULL
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        procs.append(
            subprocess.Popen(rank_command(train_args, rank, world_size, port), stdout=output,
                             stderr=subprocess.STDOUT if rank else None, env=env)
        )
    try:
        while True:
            codes = [proc.poll() for proc in procs]
            failed = [code for code in codes if code not in (None, 0)]
            if failed:
                for proc in procs:
                    if proc.poll() is None:
                        proc.kill()
                print(f"cpu_ddp: a rank exited with status {failed[0]}; stopped all ranks",
                      file=sys.stderr)
                return failed[0]
            if all(code == 0 for code in codes):
                return 0
            time.sleep(POLL_SECONDS)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
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
