"""Stage runs that depend on each other, several at a time, each in a spawned process with its share of
the CPU threads: many small runs then share one GPU, so throughput follows the device rather than the
step latency of one small model. A deadline stops the runs in flight (SIGTERM: Lightning stops at the
next step); the same jobs started again reuse the finished runs and resume the others from their last
checkpoint."""
from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from typing import Any, Sequence

from imbsemi.config import CommonConfig
from imbsemi.errors import ConfigError
from imbsemi.stages.run import run_stage
from imbsemi.stages.stage import StageResult
from imbsemi.stages.table import STAGES

log = logging.getLogger("imbsemi")


@dataclass(frozen=True)
class StageJob:
    """One stage run: ``stage`` (a name in ``STAGES``) on ``config``, started once every job
    named in ``after`` has finished (e.g. a fine-tuning whose ``init`` is an SSP job's backbone)."""
    key: str
    stage: str
    config: CommonConfig
    after: tuple[str, ...] = ()


@dataclass
class JobsOutcome:
    """Results of the finished jobs with their wall times (s), errors of the failed ones and the keys
    of those not finished (stopped at the deadline, never started, or waiting on a failed job)."""
    results: dict[str, StageResult] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)


def worker_setup(threads: int) -> None:
    """In a worker process: use ``threads`` CPU threads and log imbsemi's progress with the pid."""
    import torch

    torch.set_num_threads(threads)
    logger = logging.getLogger("imbsemi")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(f"[{os.getpid()}] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def run_job(job: StageJob) -> StageResult:
    """Run ``job``'s stage in this process (a finished run of its config is reused)."""
    return run_stage(STAGES[job.stage], job.config)


def _child(job: StageJob, threads: int, conn: Connection) -> None:
    worker_setup(threads)
    try:
        conn.send((run_job(job), None))
    except BaseException as err:  # reported to the parent, which decides what fails
        conn.send((None, f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}"))
    finally:
        conn.close()


def _check(jobs: Sequence[StageJob]) -> None:
    keys = [job.key for job in jobs]
    for job in jobs:
        if job.stage not in STAGES:
            raise ConfigError(f"job {job.key}: unknown stage {job.stage!r}; expected one of {', '.join(STAGES)}")
        missing = [key for key in job.after if key not in keys[:keys.index(job.key)]]
        if missing:
            raise ConfigError(f"job {job.key} runs after {', '.join(missing)}, which must be listed before it")
    if len(set(keys)) != len(keys):
        raise ConfigError(f"job keys must be unique; got {sorted(k for k in set(keys) if keys.count(k) > 1)}")


def run_jobs(jobs: Sequence[StageJob], workers: int = 1, deadline: float | None = None) -> JobsOutcome:
    """Run ``jobs`` (listed after the jobs they depend on; started in list order as workers free up),
    ``workers`` at a time, until all are done or ``time.time()`` passes ``deadline``."""
    _check(jobs)
    outcome, waiting = JobsOutcome(), list(jobs)
    running: dict[str, tuple[Any, Connection, float]] = {}
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = get_context("spawn")
    while waiting or running:
        for job in [j for j in waiting if any(k in outcome.failed for k in j.after)]:
            waiting.remove(job)
            outcome.failed[job.key] = f"not run: needs {', '.join(k for k in job.after if k in outcome.failed)}"
        for job in [j for j in waiting if all(k in outcome.results for k in j.after)]:
            if len(running) >= workers:
                break
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(job, threads, send), name=f"imbsemi-{job.key}")
            process.start()
            send.close()
            running[job.key] = (process, receive, time.time())
            waiting.remove(job)
        if not running:
            break
        timeout = None if deadline is None else max(0.0, deadline - time.time())
        ready = wait([conn for _, conn, _ in running.values()], timeout)
        if not ready:  # the deadline
            _stop([process for process, _, _ in running.values()])
            outcome.unfinished += list(running)
            running.clear()
            break
        for key in [k for k, (_, conn, _) in running.items() if conn in ready]:
            process, conn, started = running.pop(key)
            try:
                result, error = conn.recv()
            except EOFError:  # died without a word (killed, out of memory)
                result, error = None, "the process ended without a result"
            process.join()
            if result is None:
                outcome.failed[key] = error or f"exit code {process.exitcode}"
                log.error("job %s failed: %s", key, outcome.failed[key])
            else:
                outcome.results[key], outcome.seconds[key] = result, time.time() - started
    outcome.unfinished += [job.key for job in waiting]
    return outcome


def _stop(processes: list[Any], grace: float = 30.0) -> None:
    """SIGTERM (Lightning stops at the next step), then SIGKILL whatever still runs after ``grace`` s."""
    for process in processes:
        process.terminate()
    end = time.time() + grace
    for process in processes:
        process.join(max(0.0, end - time.time()))
        if process.is_alive():
            process.kill()
            process.join()
