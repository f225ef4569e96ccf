"""The layer rules of docs/ARCHITECTURE.md hold: import-linter's contracts, no private name crossing a
package, and no docstring citing documents outside the repository."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "umedsam"


def test_import_contracts_kept():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).is_file():
        pytest.skip("import-linter is not installed (pip install 'umedsam[dev]')")
    run = subprocess.run([exe, "--config", str(REPO / "pyproject.toml")], cwd=REPO, capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def _sources():
    return sorted(PACKAGE.rglob("*.py"))


def test_no_private_name_crosses_a_package():
    pattern = re.compile(r"from umedsam\.(\w+)[\w.]* import \(?([^)\n]*(?:\n[^)\n]*)*?)\)?$", re.M)
    offenders = []
    for path in _sources():
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for m in pattern.finditer(path.read_text(encoding="utf-8")):
            names = [n.strip().split(" as ")[0] for n in m.group(2).replace("\n", ",").split(",")]
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and m.group(1) != own:
                offenders.append(f"{path.relative_to(REPO)}: umedsam.{m.group(1)} {private}")
    assert not offenders, offenders


def test_docstrings_cite_only_documents_in_the_repository():
    outside = [str(p.relative_to(REPO)) for p in _sources()
               if re.search(r"CONVENTIONS\.md|REFERENCE\.md|\.\./shared", p.read_text(encoding="utf-8"))]
    assert not outside, outside
    cited = {m for p in _sources() for m in re.findall(r"docs/[A-Z_]+\.md", p.read_text(encoding="utf-8"))}
    missing = sorted(c for c in cited if not (REPO / c).is_file())
    assert not missing, f"docstrings cite documents that do not exist: {missing}"


def test_repository_documents_render_their_tables():
    """README and docs/*.md: every table has as many cells in each row as in its header."""
    from tests.markdown_tables import tables, assert_tables_render

    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        if tables(text):
            assert_tables_render(text)
