"""The study's job pipeline: every job starts only after the jobs it needs have finished,
never more than ``workers`` at once, a failure skips only what needed it, and quality.py's
jobs wait for the checkpoint they load (scratch fine-tuning reads a one-update checkpoint for
its config, never a whole pretraining)."""

import argparse
import sys
import threading
import time

import pytest

from tests.e2e.cli import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "examples" / "benchmarks"))
import quality  # noqa: E402
from job_pipeline import Job, JobsFailed, run_jobs  # noqa: E402


class Recorder:
    """Logs ('start'|'end', name) events and the most jobs seen running at once."""

    def __init__(self):
        self.events: list[tuple[str, str]] = []
        self.running = 0
        self.most_running = 0
        self.lock = threading.Lock()

    def job(self, name: str, seconds: float = 0.02, fail: bool = False):
        def run():
            with self.lock:
                self.events.append(("start", name))
                self.running += 1
                self.most_running = max(self.most_running, self.running)
            time.sleep(seconds)
            with self.lock:
                self.running -= 1
                self.events.append(("end", name))
            if fail:
                raise OSError(f"{name} broke")
        return run

    def index(self, kind: str, name: str) -> int:
        return self.events.index((kind, name))


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_each_job_starts_after_what_it_needs_and_at_most_workers_run(workers):
    rec = Recorder()
    jobs = [Job("pre a", rec.job("pre a", 0.3)), Job("pre b", rec.job("pre b", 0.02)),
            Job("eval a1", rec.job("eval a1"), ("pre a",)),
            Job("eval b1", rec.job("eval b1"), ("pre b",)),
            Job("eval ab", rec.job("eval ab"), ("pre a", "pre b")),
            Job("free", rec.job("free"))]
    seconds = run_jobs(jobs, workers)
    assert set(seconds) == {job.name for job in jobs}
    assert seconds["pre a"] >= 0.3 and all(value >= 0 for value in seconds.values())
    assert sorted(name for kind, name in rec.events if kind == "end") == sorted(seconds)
    for job in jobs:
        for dep in job.after:
            assert rec.index("end", dep) < rec.index("start", job.name), (job.name, dep)
    assert rec.most_running <= workers
    if workers >= 2:
        # "eval b1" is ready long before "pre a" ends: a free worker takes it meanwhile.
        assert rec.index("end", "eval b1") < rec.index("end", "pre a")
        assert rec.most_running >= 2


def test_one_worker_takes_the_first_ready_job_in_list_order():
    rec = Recorder()
    jobs = [Job("a", rec.job("a")), Job("b", rec.job("b"), ("a",)), Job("c", rec.job("c"))]
    run_jobs(jobs, 1)
    assert [name for kind, name in rec.events if kind == "start"] == ["a", "b", "c"]


def test_a_failure_skips_what_needs_it_and_the_rest_still_runs():
    rec = Recorder()
    jobs = [Job("bad", rec.job("bad", fail=True)), Job("good", rec.job("good")),
            Job("after bad", rec.job("after bad"), ("bad",)),
            Job("after that", rec.job("after that"), ("after bad",)),
            Job("after good", rec.job("after good"), ("good",))]
    with pytest.raises(JobsFailed) as failed:
        run_jobs(jobs, 2)
    assert set(failed.value.errors) == {"bad", "after bad", "after that"}
    assert "bad broke" in str(failed.value.errors["bad"])
    assert "not run: bad failed" in str(failed.value.errors["after bad"])
    started = {name for kind, name in rec.events if kind == "start"}
    assert started == {"bad", "good", "after good"}


def test_bad_job_lists_are_refused_before_anything_runs():
    rec = Recorder()
    with pytest.raises(ValueError, match="repeat"):
        run_jobs([Job("a", rec.job("a")), Job("a", rec.job("a"))], 2)
    with pytest.raises(ValueError, match="listed before it"):  # also what rules out cycles
        run_jobs([Job("a", rec.job("a"), ("b",)), Job("b", rec.job("b"))], 2)
    with pytest.raises(ValueError, match="listed before it"):
        run_jobs([Job("a", rec.job("a"), ("missing",))], 2)
    assert rec.events == []


def test_the_study_jobs_wait_for_the_encoder_they_load():
    args = argparse.Namespace(seeds=[1, 2], systems=["birq", "bestrq", "scratch"],
                              labelled=["finetune_10min", "finetune_1h"],
                              no_label_quality=False)
    jobs = quality.study_jobs(args, ["bestrq", "birq"], lm=None)
    after = {job.name: job.after for job in jobs}
    assert len(after) == len(jobs) == 2 + 2 * 2 + 2 * 3 * 3
    assert [job.name for job in jobs[:6]] == [
        "architecture 1", "architecture 2",
        "pretrain birq 1", "pretrain birq 2", "pretrain bestrq 1", "pretrain bestrq 2"]
    assert after["finetune_1h birq 2"] == ("pretrain birq 2",)
    assert after["label quality bestrq 1"] == ("pretrain bestrq 1",)
    assert after["finetune_10min scratch 1"] == ("architecture 1",)
    assert after["label quality scratch 2"] == ()  # a random init from the yaml
    assert all(after[name] == () for name in after
               if name.startswith(("pretrain", "architecture")))


def test_bestrq_against_no_pretraining_runs_no_birq_pretraining():
    args = argparse.Namespace(seeds=[1], systems=["bestrq", "scratch"],
                              labelled=["finetune_10min"], no_label_quality=True)
    names = [job.name for job in quality.study_jobs(args, ["bestrq"], lm=None)]
    assert names == ["architecture 1", "pretrain bestrq 1",
                     "finetune_10min bestrq 1", "finetune_10min scratch 1"]
