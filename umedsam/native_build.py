"""Build and install the native runtime (``native/``) with CMake against the installed ``openvino`` wheel.

``umedsam native build`` calls :func:`build`: configure with ``OpenVINO_DIR`` pointing into the wheel
(no system OpenVINO), build ``libumedsam.so`` + ``umedsam-native``, install them into the Python
environment (``<prefix>/bin/umedsam-native`` on its PATH, ``<prefix>/lib/umedsam/libumedsam.so`` where
the ctypes backend looks). libzip and nlohmann-json come from Debian: ``apt-get install libzip-dev
nlohmann-json3-dev libssl-dev``; OpenCV's INTER_AREA is ported (``native/src/resize_area.cpp`` says why).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from umedsam.errors import UmedsamError
from umedsam.runtime.native_lib import REPO_NATIVE

APT_PACKAGES = "cmake g++ pkg-config libzip-dev nlohmann-json3-dev libssl-dev"


@dataclass
class BuildResult:
    """Where the build put things."""

    build_dir: Path
    prefix: Path
    library: Path
    executable: Path
    version: str


def openvino_cmake_dir() -> Path:
    """``OpenVINOConfig.cmake``'s folder inside the installed wheel (found without importing openvino)."""
    spec = importlib.util.find_spec("openvino")
    if spec is None or not spec.submodule_search_locations:
        raise UmedsamError("the openvino wheel is not installed (pip install openvino); the native runtime builds against it")
    folder = Path(list(spec.submodule_search_locations)[0]) / "cmake"
    if not (folder / "OpenVINOConfig.cmake").is_file():
        raise UmedsamError(f"{folder}: no OpenVINOConfig.cmake in the openvino wheel")
    return folder


def _run(cmd: list[str], what: str, verbose: bool) -> None:
    proc = subprocess.run(cmd, capture_output=not verbose, text=True, encoding="utf-8", errors="replace")
    if proc.returncode != 0:
        tail = "" if verbose else " | ".join(
            line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip() and
            ("error" in line.lower() or "could not" in line.lower() or "not found" in line.lower()))[:600]
        raise UmedsamError(f"native {what} failed ({' '.join(cmd[:3])} …){': ' + tail if tail else ''}; "
                           f"needs: apt-get install {APT_PACKAGES}")


def build(source: Path | None = None, build_dir: Path | None = None, prefix: Path | None = None,
          portable: bool = False, jobs: int | None = None, verbose: bool = False) -> BuildResult:
    """Configure, build and install the native runtime; returns the installed paths.

    ``prefix`` defaults to ``$UMEDSAM_NATIVE_PREFIX``, else this Python environment.
    """
    source = Path(source or REPO_NATIVE)
    if not (source / "CMakeLists.txt").is_file():
        raise UmedsamError(f"{source}: native sources not found (they live in native/ of the umedsam repository)")
    cmake = shutil.which("cmake")
    if cmake is None:
        raise UmedsamError(f"cmake not found; needs: apt-get install {APT_PACKAGES}")
    build_dir = Path(build_dir or source / "build")
    # UMEDSAM_NATIVE_PREFIX: install somewhere else than this environment (a second checkout's own
    # build next to a shared virtual environment, as the tests' session build does)
    prefix = Path(prefix or os.environ.get("UMEDSAM_NATIVE_PREFIX") or sys.prefix)
    configure = [cmake, "-S", str(source), "-B", str(build_dir), f"-DOpenVINO_DIR={openvino_cmake_dir()}",
                 "-DCMAKE_BUILD_TYPE=Release", f"-DUMEDSAM_PORTABLE={'ON' if portable else 'OFF'}"]
    if shutil.which("ninja") and not (build_dir / "CMakeCache.txt").is_file():
        configure += ["-G", "Ninja"]
    _run(configure, "configure", verbose)
    _run([cmake, "--build", str(build_dir), "-j", str(jobs or os.cpu_count() or 2)], "build", verbose)
    _run([cmake, "--install", str(build_dir), "--prefix", str(prefix)] + (["--strip"] if portable else []),
         "install", verbose)
    exe = prefix / "bin" / "umedsam-native"
    lib = prefix / "lib" / "umedsam" / "libumedsam.so"
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, encoding="utf-8", errors="replace")
    if proc.returncode != 0:
        raise UmedsamError(f"{exe}: built but does not run ({(proc.stderr or proc.stdout).strip()[:300]})")
    return BuildResult(build_dir, prefix, lib, exe, proc.stdout.strip())
