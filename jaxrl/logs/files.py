"""The run's JSON files (config.json, summary.json, eval.json), written atomically."""

import json
import os
from pathlib import Path


def write_json(path: Path, data: dict) -> None:
    """Atomic: a crash leaves either the old file or the new one, never half of one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
