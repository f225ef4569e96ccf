"""TensorRT backend: serialized engines (``.plan``) through TensorRT's Python API and CUDA buffers.

torch-free: device memory and streams come from NVIDIA's ``cuda-python`` runtime bindings. Uses the
named-tensor API (``set_input_shape`` / ``set_tensor_address`` / ``execute_async_v3``) that TensorRT
8.6 (the last version for Pascal GPUs) and 10.x share, so one code path serves both. Timing is
correct for benchmarks because every call ends with a stream synchronisation before outputs are
returned.

Not exercised on the development machine (no GPU, no TensorRT); see the closing note of the export
issue for what was and was not run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from umedsam.errors import EngineError
from umedsam.runtime.backends.graph_backend import GraphBackend


def cudart_module():
    """The CUDA runtime bindings (cuda-python >= 12.6 moved them to ``cuda.bindings``); the TensorRT exporter uses them too."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        from cuda import cudart  # older cuda-python (the one TensorRT 8.6 users have)
    return cudart


def cuda_check(result: tuple) -> Any:
    """Unwrap a cuda-python ``(err, *values)`` result; raise EngineError on failure."""
    err, *values = result
    if int(err) != 0:
        raise EngineError(f"CUDA error {int(err)} ({getattr(err, 'name', err)})")
    return values[0] if len(values) == 1 else (values or None)


class DeviceBuffer:
    """A growable device allocation."""

    def __init__(self, cudart) -> None:
        self.cudart, self.ptr, self.nbytes = cudart, 0, 0

    def ensure(self, nbytes: int) -> int:
        if nbytes > self.nbytes:
            self.free()
            self.ptr = int(cuda_check(self.cudart.cudaMalloc(nbytes)))
            self.nbytes = nbytes
        return self.ptr

    def free(self) -> None:
        if self.ptr:
            cuda_check(self.cudart.cudaFree(self.ptr))
        self.ptr, self.nbytes = 0, 0


class _Engine:
    """One deserialized engine with its execution context and buffers."""

    def __init__(self, trt, runtime, path, cudart, stream) -> None:
        self.trt, self.cudart, self.stream = trt, cudart, stream
        with open(path, "rb") as f:
            self.engine = runtime.deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise EngineError(f"{path}: TensorRT cannot deserialize it (built by another TensorRT version or for "
                              f"another GPU? rebuild with umedsam-export --target trt on this machine)")
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise EngineError(f"{path}: TensorRT could not create an execution context (GPU memory?)")
        self.names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in self.names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in self.names if n not in self.inputs]
        self.buffers = {n: DeviceBuffer(cudart) for n in self.names}

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cudart, trt = self.cudart, self.trt
        kind = cudart.cudaMemcpyKind
        for name in self.inputs:
            arr = np.ascontiguousarray(feeds[name], dtype=np.float32)
            if not self.context.set_input_shape(name, arr.shape):
                raise EngineError(f"input '{name}' shape {arr.shape} is outside the engine's optimization profile")
            ptr = self.buffers[name].ensure(arr.nbytes)
            cuda_check(cudart.cudaMemcpyAsync(ptr, arr.ctypes.data, arr.nbytes, kind.cudaMemcpyHostToDevice,
                                              self.stream))
            self.context.set_tensor_address(name, ptr)
        hosts = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            dtype = trt.nptype(self.engine.get_tensor_dtype(name))
            hosts[name] = np.empty(shape, dtype=dtype)
            self.context.set_tensor_address(name, self.buffers[name].ensure(max(hosts[name].nbytes, 1)))
        if not self.context.execute_async_v3(self.stream):
            raise EngineError("TensorRT execution failed")
        for name, host in hosts.items():
            cuda_check(cudart.cudaMemcpyAsync(host.ctypes.data, self.buffers[name].ptr, host.nbytes,
                                              kind.cudaMemcpyDeviceToHost, self.stream))
        cuda_check(cudart.cudaStreamSynchronize(self.stream))
        return {n: h.astype(np.float32, copy=False) for n, h in hosts.items()}

    def close(self) -> None:
        for buf in self.buffers.values():
            buf.free()


class TensorRTBackend(GraphBackend):
    """Encoder and decoder engines of a TensorRT bundle. ``threads`` does not apply (GPU); it is recorded."""

    name = "tensorrt"
    preferred_box_batch = 16

    def __init__(self, path: str, threads: int | None = None, verify: bool = True) -> None:
        super().__init__(path, threads, verify)
        import tensorrt as trt

        self._trt = trt
        self.cudart = cudart_module()
        self.logger = trt.Logger(trt.Logger.WARNING)
        trt.init_libnvinfer_plugins(self.logger, "")
        self.runtime = trt.Runtime(self.logger)
        self.stream = cuda_check(self.cudart.cudaStreamCreate())
        self.engines: dict[str, _Engine] = {}
        try:
            for stage, graph in self.bundle.graphs.items():
                if graph.suffix.lower() not in (".plan", ".engine"):
                    raise EngineError(f"{graph}: TensorRT runs serialized engines (.plan/.engine); "
                                      f"build one with umedsam-export --target trt")
                self.engines[stage] = _Engine(trt, self.runtime, graph, self.cudart, self.stream)
        except BaseException:
            self.close()
            raise
        if self.bundle.merged:
            self._check_merged(self.bundle.graphs["merged"], self.engines["merged"].inputs)

    def _run(self, stage: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.engines[stage].run(feeds)

    def info(self) -> dict[str, Any]:
        info = super().info()
        info.update(tensorrt=self._trt.__version__, device="GPU", gpu=self.bundle.manifest.get("gpu"))
        return info

    def close(self) -> None:
        for engine in self.engines.values():
            engine.close()
        self.engines.clear()
        if getattr(self, "stream", None) is not None:
            self.cudart.cudaStreamDestroy(self.stream)
            self.stream = None
