"""``umedsam.cli.fast_args``: the same values as Typer for plain command lines, Typer for the rest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from umedsam.cli.fast_args import parse
from umedsam.cli.predict import app, predict

PLAIN = [
    ["-i", "in", "-o", "out"],
    ["--inputs", "in", "--outputs=out", "--engine", "bundles/ov", "--threads", "2", "--profile"],
    ["-i", "in", "-o", "out", "--no-sidecars", "--no-verify", "--resume", "--allow-failed"],
    ["-i", "in", "-o", "out", "--max-cache-mb", "0", "--slice-batch", "4", "--box-batch", "1", "--backend", "native"],
    ["-o", "out", "-i", "in", "--window", "40,400", "--format", ".nii.gz", "--boxes", "b.json", "--sidecars"],
]
TO_TYPER = [
    ["--help"],
    ["-i", "in"],  # -o is required
    ["-i", "in", "-o", "out", "--threads", "two"],
    ["-i", "in", "-o", "out", "--unknown"],
    ["-i", "in", "-o", "out", "extra"],
    ["-i", "in", "-o", "out", "--threads"],
    ["-i", "in", "-o", "out", "--profile=yes"],
    ["-i", "in", "-o", "out", "--threads", "1", "--threads", "2"],
]


def _typer_params(argv: list[str]) -> dict:
    command = typer.main.get_command(app)
    with command.make_context("umedsam-predict", list(argv)) as ctx:
        return dict(ctx.params)


@pytest.mark.parametrize("argv", PLAIN)
def test_plain_command_lines_parse_as_typer_does(argv):
    ours = parse(predict, argv)
    assert ours is not None
    theirs = _typer_params(argv)
    assert ours == theirs
    assert {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in theirs.items()}


@pytest.mark.parametrize("argv", TO_TYPER)
def test_other_command_lines_are_left_to_typer(argv):
    assert parse(predict, argv) is None


def test_commands_with_unsupported_options_are_left_to_typer():
    def command(paths: list[Path] = typer.Option(..., "--path")) -> None:  # a list: not a plain option
        pass

    def checked(p: Path = typer.Option(..., "--p", exists=True)) -> None:  # validation: Typer's job
        pass

    assert parse(command, ["--path", "a"]) is None
    assert parse(checked, ["--p", "a"]) is None


def test_predict_entry_point_errors_and_help(tmp_path):
    """Through the console entry point: a missing folder fails in one line, bad options and --help reach Typer."""
    run = [sys.executable, "-m", "umedsam.cli.predict"]
    r = subprocess.run(run + ["-i", str(tmp_path / "none"), "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("error: ") and "none" in r.stderr
    r = subprocess.run(run + ["-i", "x", "-o", "y", "--threads", "two"], capture_output=True, text=True)
    assert r.returncode == 2 and "--threads" in r.stderr
    r = subprocess.run(run + ["--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--slice-batch" in r.stdout
