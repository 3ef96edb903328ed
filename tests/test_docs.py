"""The generated supported-API table is kept current."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_supported_api_table_is_current():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "supported_apis.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
