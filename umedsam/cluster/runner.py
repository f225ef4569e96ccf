"""Predict and parity on Ray: one task per case, workers that keep their engine, retries, atomic outputs.

* **Workers** are Ray actors. Each opens the engine once (and, for parity, the reference too) with
  ``threads`` intra-op threads and reserves ``threads`` CPUs from Ray, so Ray never places more
  workers on a node than its cores allow; locally ``workers x threads`` must fit the machine's cores.
  An actor killed mid-run is restarted once by Ray (``max_restarts=1``) and reopens its engine (the
  OpenVINO blob cache makes that fast).
* **Cases** travel as file bytes through Ray's object store (no shared file system is assumed) and are
  handed out heaviest first (:mod:`umedsam.cluster.weights`), each worker pulling the next case as it
  finishes one. A case that fails for a reason outside the case (its worker died, an unexpected error)
  is retried once on another worker, then reported; a malformed case is reported at once (retrying
  cannot fix it). Nothing stops the run but the loss of every worker.
* **Outputs** are written by the driver only, atomically (temporary file + rename), in the same form
  as the single-process path: ``segs`` npz, JSON sidecars, ``efficiency.csv``; plus ``cluster.json``
  (workers, threads per worker, where each case ran, attempts, start-up overhead, throughput).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from umedsam.errors import UmedsamError

OBJECT_STORE_MB = 256  # a lean local cluster: cases stream through, a few at a time


@dataclass
class ClusterOptions:
    """Where and how wide to run."""

    address: str = "local"      # "local" (start one here) or a Ray address ("auto", "ray://host:10001", ...)
    workers: int | None = None  # default: as many as fit (cores // threads)
    threads: int = 1            # intra-op threads per worker
    retries: int = 1            # extra attempts for a case whose worker failed


@dataclass
class Cluster:
    """A connected cluster and its workers."""

    options: ClusterOptions
    actors: list[Any]
    info: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        import ray

        for a in self.actors:
            try:
                ray.kill(a)
            except Exception:
                pass
        if self.info.get("started_here"):
            ray.shutdown()


def _ray():
    try:
        import ray
    except ModuleNotFoundError:
        raise UmedsamError("--cluster needs Ray: pip install 'umedsam[cluster]'") from None
    return ray


def connect(options: ClusterOptions) -> dict[str, Any]:
    """Start a lean local Ray or join an existing cluster; returns what was found (workers decided)."""
    ray = _ray()
    threads = max(1, int(options.threads))
    t = time.perf_counter()
    started = False
    if options.address == "local":
        cores = os.cpu_count() or 1
        workers = options.workers or max(1, cores // threads)
        if workers * threads > cores:
            raise UmedsamError(f"--workers {workers} x --threads {threads} = {workers * threads} threads exceed this "
                               f"machine's {cores} cores (oversubscription); lower one of them")
        if not ray.is_initialized():
            ray.init(num_cpus=workers * threads, include_dashboard=False, log_to_driver=False,
                     object_store_memory=OBJECT_STORE_MB * 1024 * 1024, configure_logging=False)
            started = True
    else:
        if not ray.is_initialized():
            ray.init(address=options.address, log_to_driver=False, configure_logging=False)
            started = True
        total = int(ray.cluster_resources().get("CPU", 0))
        workers = options.workers or max(1, total // threads)
        if workers * threads > total:
            raise UmedsamError(f"{options.address}: --workers {workers} x --threads {threads} exceed the cluster's "
                               f"{total} CPUs")
    options.workers, options.threads = workers, threads
    return {"address": options.address, "workers": workers, "threads_per_worker": threads,
            "cluster_cpus": int(ray.cluster_resources().get("CPU", 0)), "ray": ray.__version__,
            "connect_s": time.perf_counter() - t, "started_here": started}


class _Worker:
    """The actor body (wrapped by ``ray.remote`` in :func:`start`)."""

    def __init__(self, engine: str | None, backend: str | None, threads: int, predictor_kwargs: dict[str, Any],
                 reference: str | None = None, reference_backend: str | None = None) -> None:
        from umedsam.runtime.predictor import Predictor

        self.tmp = Path(tempfile.mkdtemp(prefix="umedsam-worker-"))
        self.cand = Predictor(engine, backend=backend, threads=threads, **predictor_kwargs)
        self.ref = None
        if reference is not None:
            from umedsam.metrics.parity import RecordingBackend

            self.ref = Predictor(reference, backend=reference_backend, threads=threads, **predictor_kwargs)
            self.ref.backend = RecordingBackend(self.ref.backend)
            self.cand.backend = RecordingBackend(self.cand.backend)

    def info(self) -> dict[str, Any]:
        import socket

        return {"pid": os.getpid(), "host": socket.gethostname(), "candidate": self.cand.backend.info(),
                "reference": self.ref.backend.info() if self.ref is not None else None}

    def _stage(self, name: str, data: bytes, sub: str = "imgs") -> Path:
        folder = self.tmp / sub
        folder.mkdir(exist_ok=True)
        path = folder / name
        path.write_bytes(data)
        return path

    def predict(self, name: str, data: bytes, display: str) -> dict[str, Any]:
        from umedsam.data.npz import load_case

        start = time.perf_counter()
        path = self._stage(name, data)
        try:
            case = load_case(path)
            seg = self.cand.segment_case(case.kind, case.imgs, case.boxes)
            warnings = [w.replace(str(path), display) for w in case.warnings] + [f"{display}: {w}" for w in seg.warnings]
            return {"ok": True, "kind": case.kind, "labels": seg.labels, "scores": seg.scores, "warnings": warnings,
                    "timings": seg.timings, "seconds": time.perf_counter() - start, "pid": os.getpid()}
        except UmedsamError as exc:
            return {"ok": False, "error": str(exc).replace(str(path), display), "seconds": time.perf_counter() - start,
                    "pid": os.getpid()}
        finally:
            path.unlink(missing_ok=True)

    def parity(self, name: str, data: bytes, gt: bytes | None, tolerances: Any) -> Any:
        from umedsam.metrics.parity import compare_case

        path = self._stage(name, data)
        gts_dir = None
        if gt is not None:
            self._stage(name, gt, "gts")
            gts_dir = self.tmp / "gts"
        try:
            result = compare_case(self.ref, self.cand, path, gts_dir, tolerances)
            if result.error:
                result.error = result.error.replace(str(path), name)
            return result
        finally:
            path.unlink(missing_ok=True)
            if gts_dir is not None:
                (gts_dir / name).unlink(missing_ok=True)


def start(options: ClusterOptions, engine: str | None, backend: str | None = None,
          predictor_kwargs: dict[str, Any] | None = None, reference: str | None = None,
          reference_backend: str | None = None) -> Cluster:
    """Connect and start ``workers`` actors, each with its engine open; fails with one line if they cannot."""
    ray = _ray()
    info = connect(options)
    t = time.perf_counter()
    remote = ray.remote(num_cpus=options.threads, max_restarts=1, max_task_retries=0)(_Worker)
    actors = [remote.remote(engine, backend, options.threads, predictor_kwargs or {}, reference, reference_backend)
              for _ in range(options.workers)]
    cluster = Cluster(options, actors, info)
    try:
        infos = ray.get([a.info.remote() for a in actors])
    except Exception as exc:
        cluster.close()
        cause = getattr(exc, "cause", None) or exc
        raise UmedsamError(f"cluster workers could not open the engine: {str(cause).strip().splitlines()[-1]}") from None
    info.update(workers_ready_s=time.perf_counter() - t, worker_info=infos)
    return cluster


def run_cases(cluster: Cluster, items: list[tuple[Path, float]], submit: Callable[[Any, Path], Any],
              on_result: Callable[[Path, Any, int, int], None], failed: Callable[[Path, str], Any]) -> None:
    """Feed cases to idle workers until every case has a result.

    ``submit(actor, path)`` returns an ObjectRef; ``on_result(path, result, attempts, actor_index)``
    receives each result; ``failed(path, message)`` builds the result of a case that failed on
    ``1 + retries`` workers. A worker whose task failed gets no case until it answers a ping again
    (Ray restarts a killed actor once; a task sent while it restarts would fail too), so a retried
    case goes to another worker when there is one.
    """
    ray = _ray()
    from ray.exceptions import RayError

    unavailable = getattr(ray.exceptions, "ActorUnavailableError", ())
    queue = deque(p for p, _ in items)
    idle = list(range(len(cluster.actors)))
    inflight: dict[Any, tuple[Path, int]] = {}
    pings: dict[Any, tuple[int, float]] = {}
    attempts: dict[Path, int] = {}
    strikes = [0] * len(cluster.actors)  # consecutive failures of each worker; two and it is dropped

    def ping(i: int, deadline: float) -> None:
        pings[cluster.actors[i].info.remote()] = (i, deadline)

    while queue or inflight:
        while queue and idle:
            path, i = queue.popleft(), idle.pop(0)
            attempts[path] = attempts.get(path, 0) + 1
            inflight[submit(cluster.actors[i], path)] = (path, i)
        waiting = list(inflight) + list(pings)
        if not waiting:
            for path in queue:
                on_result(path, failed(path, "no worker left (every worker failed twice in a row)"), attempts.get(path, 0), -1)
            return
        (ref,), _ = ray.wait(waiting, num_returns=1)
        if ref in pings:
            i, deadline = pings.pop(ref)
            try:
                ray.get(ref)
                idle.append(i)
            except RayError as exc:
                if unavailable and isinstance(exc, unavailable) and time.monotonic() < deadline:
                    time.sleep(0.5)  # still restarting
                    ping(i, deadline)
            continue
        path, i = inflight.pop(ref)
        try:
            result = ray.get(ref)
        except RayError as exc:  # the worker died or the task crashed outside the case's own errors
            strikes[i] += 1
            if strikes[i] < 2:
                ping(i, time.monotonic() + 300)
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if attempts[path] <= cluster.options.retries:
                queue.appendleft(path)
            else:
                on_result(path, failed(path, f"failed on {attempts[path]} workers ({type(exc).__name__}: {reason[:200]})"),
                          attempts[path], i)
            continue
        strikes[i] = 0
        idle.append(i)
        on_result(path, result, attempts[path], i)


def cluster_report(cluster: Cluster, started: float, per_case: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``cluster.json`` records."""
    wall = time.perf_counter() - started
    info = {k: v for k, v in cluster.info.items() if k != "worker_info"}
    info["workers_detail"] = [{"pid": w["pid"], "host": w["host"], "threads": w["candidate"].get("threads")}
                              for w in cluster.info.get("worker_info", [])]
    done = sum(1 for c in per_case if c.get("ok"))
    info.update(wall_s=wall, cases=len(per_case), cases_ok=done, cases_per_s=done / wall if wall > 0 else None,
                startup_s=info.get("connect_s", 0) + info.get("workers_ready_s", 0), per_case=per_case)
    return info
