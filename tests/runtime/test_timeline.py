"""The per-process timeline behind ``umedsam-predict --profile``."""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

from umedsam.runtime import timeline


def test_origin_is_the_process_start():
    # this interpreter started before the test ran, and not before the machine booted
    t = timeline.now()
    boot_age = time.clock_gettime(time.CLOCK_BOOTTIME)
    assert 0 < t < boot_age
    # a fresh interpreter is young: its own now() is well under a few seconds (imports included)
    out = subprocess.run([sys.executable, "-c", "from umedsam.runtime import timeline; print(timeline.now())"],
                         capture_output=True, text=True, encoding="utf-8", errors="replace", check=True)
    assert 0 < float(out.stdout) < 30


def test_spans_ordered_and_report_overhead():
    timeline.clear()
    with timeline.span("b"):
        time.sleep(0.01)
    start = timeline.now()
    timeline.record("a", start - 5.0, start - 4.0, thread=1)
    items = timeline.entries()
    assert [e["stage"] for e in items] == ["a", "b"] and items[0]["thread"] == 1
    assert items[1]["end"] - items[1]["start"] >= 0.01
    seg = SimpleNamespace(timings={"preprocess": 0.01, "encode": 0.5, "decode": 0.25, "cache_hits": 3})
    report = timeline.profile_report([SimpleNamespace(name="2Dx.npz", seconds=1.0, ok=True, segmentation=seg,
                                                      error=None)])
    assert "[overlapped] a" in report and "encode 0.500" in report and "cache_hits" not in report
    wall = float(report.rsplit("wall ", 1)[1].split(" s")[0])
    overhead = float(report.rsplit("overhead ", 1)[1].split(" s")[0])
    assert abs(overhead - (wall - 0.75)) < 2e-3
    timeline.clear()
    assert timeline.entries() == []
