"""Runs a study's jobs a few at a time, each as soon as the jobs it needs have finished.

quality.py used to run all pretrainings, then all evaluations: the workers idled at the end of
the pretraining stage while BiRQ's longer runs finished, with no-pretraining fine-tunings that
needed nothing waiting behind them. Here a fine-tuning starts as soon as its own encoder is
saved, and the random-init jobs fill any worker that would otherwise wait.

Written by hand: ``concurrent.futures`` has no dependencies, and ``graphlib.TopologicalSorter``
hands out every ready job at once, so a pool would run them first come, first served; here a
free worker takes the first ready job in list order, so the caller's order is the priority.
"""

import threading
import time
from collections.abc import Callable
from typing import NamedTuple


class Job(NamedTuple):
    name: str
    run: Callable[[], None]
    after: tuple[str, ...] = ()  # names of the jobs that must finish first


class JobsFailed(RuntimeError):
    """Some jobs raised (or needed one that did); the others still ran."""

    def __init__(self, errors: dict[str, BaseException]):
        self.errors = errors
        super().__init__("; ".join(f"{name}: {error}" for name, error in errors.items()))


def run_jobs(jobs: list[Job], workers: int) -> dict[str, float]:
    """Runs ``jobs`` on ``workers`` threads, each once everything in its ``after`` (jobs
    listed before it) has finished, taking the first ready job in list order. Returns
    each job's wall seconds; raises :class:`JobsFailed` at the end if any job failed, after
    skipping the jobs that needed it."""
    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"job names repeat: {names}")
    for index, job in enumerate(jobs):  # only earlier jobs: no cycle can hang the workers
        late = [dep for dep in job.after if dep not in names[:index]]
        if late:
            raise ValueError(f"{job.name} waits for {late}: a job may only wait for jobs "
                             f"listed before it")
    pending = list(jobs)
    finished: set[str] = set()
    errors: dict[str, BaseException] = {}
    seconds: dict[str, float] = {}
    changed = threading.Condition()

    def next_job() -> Job | None:
        """Under the lock: the first ready job, or None once nothing is left to start."""
        while pending:
            for job in pending:
                failed = [dep for dep in job.after if dep in errors]
                if failed:
                    pending.remove(job)
                    errors[job.name] = RuntimeError(f"not run: {failed[0]} failed")
                    changed.notify_all()
                    break
                if all(dep in finished for dep in job.after):
                    pending.remove(job)
                    return job
            else:
                changed.wait()
        return None

    def worker() -> None:
        while True:
            with changed:
                job = next_job()
            if job is None:
                return
            start = time.monotonic()
            try:
                job.run()
                error = None
            except Exception as raised:  # the other jobs go on; reported at the end
                error = raised
            with changed:
                seconds[job.name] = round(time.monotonic() - start, 1)
                if error is None:
                    finished.add(job.name)
                else:
                    errors[job.name] = error
                changed.notify_all()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise JobsFailed(errors)
    return seconds
