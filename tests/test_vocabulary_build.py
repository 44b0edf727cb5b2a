"""The committed vocabulary is what scripts/build_vocabulary.py makes from the sources in the repository.

The build reads only scripts/vocabulary/sources/, scripts/vocabulary/curated.yaml and, when the committed file
has one, its RxNorm layer (what earlier monthly releases taught, kept as it is; no network, no sibling folders), so
a rebuild must give rules/knowledge/data/vocabulary.json byte for byte, before and after a refresh. If this fails
after an edit to curated.yaml, a source file or the normal form in rules/knowledge/text.py, run `make vocabulary`
and commit the result.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "scripts" / "vocabulary" / "sources"
COMMITTED = ROOT / "rules" / "knowledge" / "data" / "vocabulary.json"


def test_build_reproduces_the_committed_vocabulary(tmp_path):
    output = tmp_path / "vocabulary.json"
    # A random hash seed each run: the output must not depend on set or dict-of-set iteration order.
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_vocabulary.py"), "--output", str(output)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert output.read_bytes() == COMMITTED.read_bytes(), (
        "rules/knowledge/data/vocabulary.json is not what `make vocabulary` builds; rebuild and commit it"
    )


def test_every_source_file_is_described():
    readme = (SOURCES / "README.md").read_text(encoding="utf-8")
    described = set(re.findall(r"^### `([^`]+)`", readme, flags=re.MULTILINE))
    present = {p.name for p in SOURCES.iterdir() if p.name != "README.md"}
    assert described == present
