"""Any test folders collect together, in either order (every folder's conftest.py is registered as `conftest`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _collect(folders: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *map(str, folders)], capture_output=True, text=True, cwd=TESTS.parent, timeout=120)


def test_no_test_module_imports_helpers_from_conftest():
    offenders = [str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py")
                 if re.search(r"^\s*from\s+\.?conftest\s+import|^\s*import\s+conftest\b", p.read_text(), re.M)]
    assert offenders == [], f"import helpers from a uniquely named module, not conftest: {offenders}"


def test_all_test_folders_collect_together_in_either_order():
    folders = sorted(p for p in TESTS.iterdir() if p.is_dir() and any(p.glob("test_*.py")))
    assert len(folders) >= 5
    for order in (folders, folders[::-1]):
        result = _collect(order)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert "error" not in result.stdout.splitlines()[-1]
