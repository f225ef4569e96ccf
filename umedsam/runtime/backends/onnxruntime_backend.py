"""ONNX Runtime backend (CPU by default; CUDA/TensorRT execution providers when asked for and present)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnxruntime as ort

from umedsam.errors import EngineError
from umedsam.runtime.backends.graph_backend import GraphBackend


class OnnxRuntimeBackend(GraphBackend):
    """One ``InferenceSession`` per stage.

    ``threads`` sets ``intra_op_num_threads`` (None = ONNX Runtime's default, one per physical core);
    ``inter_op_num_threads`` is 1 and execution sequential, since each graph is a single chain and a
    second pool would only oversubscribe the cores. ``providers`` defaults to
    ``UMEDSAM_ORT_PROVIDERS`` (comma separated) or the CPU provider.
    """

    name = "onnxruntime"

    def __init__(self, path: str, threads: int | None = None, providers: list[str] | None = None,
                 verify: bool = True) -> None:
        super().__init__(path, threads, verify)
        if providers is None:
            env = os.environ.get("UMEDSAM_ORT_PROVIDERS", "")
            providers = [p for p in env.split(",") if p] or ["CPUExecutionProvider"]
        self.providers = providers
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.sessions: dict[str, ort.InferenceSession] = {}
        for stage, graph in self.bundle.graphs.items():
            if graph.suffix.lower() != ".onnx":
                raise EngineError(f"{graph}: ONNX Runtime runs .onnx graphs only; use --backend "
                                  f"{self.bundle.format} for this bundle")
            try:
                self.sessions[stage] = ort.InferenceSession(str(graph), sess_options=opts, providers=providers)
            except Exception as exc:  # ORT raises its own exception types for corrupt/unsupported graphs
                raise EngineError(f"{graph}: ONNX Runtime cannot load it ({str(exc).splitlines()[0]})") from None
        if self.bundle.merged:
            graph = self.bundle.graphs["merged"]
            self._check_merged(graph, [i.name for i in self.sessions["merged"].get_inputs()])

    def _run(self, stage: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self.sessions[stage]
        names = [o.name for o in session.get_outputs()]
        try:
            return dict(zip(names, session.run(names, feeds)))  # ORT returns fresh numpy arrays
        except Exception as exc:  # ORT's own exception types (Fail, InvalidArgument, ...)
            raise EngineError(f"{self.bundle.graphs[stage]}: ONNX Runtime {stage} failed: "
                              f"{str(exc).strip().splitlines()[0]}") from None

    def info(self) -> dict[str, Any]:
        info = super().info()
        info.update(onnxruntime=ort.__version__, providers=self.providers)
        return info

    def close(self) -> None:
        self.sessions.clear()
