"""``sealroom demo --media`` runs end to end as a user starts it: a real CLI process with an
embedded server, the DataLab, the media room, the audiences, the lookalike and the refusals."""

from __future__ import annotations

import os
import re
import subprocess
import sys


def test_the_media_demo_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sealroom.cli", "demo", "--media"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "validation SUCCESS, 20,000 users" in out
    assert "base audience provisioned" in out
    assert re.search(r"buyers\s+│\s+[\d,]+\s+│\s+[\d,]+\s+│\s+\d+\.\d%", out)
    auc = re.search(r"ROC AUC (\d\.\d+) on a held-out set", out)
    assert auc is not None
    assert float(auc.group(1)) > 0.7  # buyers lean one way in the embeddings
    assert re.search(r"exported [\d,]+ activation ids", out)
    assert "may not export" in out
    assert "EXPORT_AUDIENCE" in out
