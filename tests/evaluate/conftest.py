"""Tiny real-audio task trees for the evaluation tests."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # test modules import the eval_audio helpers

from eval_audio import FREQS, write_tone  # noqa: E402


@pytest.fixture
def class_folder(tmp_path: Path) -> Path:
    """`<class>/<clip>.wav` for 3 tone classes x 6 clips (one class nested one folder deeper)."""
    root = tmp_path / "classes"
    for name, freq in FREQS.items():
        for i in range(6):
            sub = "deep/" if name == "high" else ""
            write_tone(root / name / f"{sub}{name}{i}.wav", freq * (1 + 0.02 * i), seed=i)
    return root


@pytest.fixture
def manifest_task(tmp_path: Path) -> Path:
    """A manifest CSV with label, group (3 per class, 2 clips each) and fold columns, audio in audio/."""
    rows = []
    for c, (name, freq) in enumerate(FREQS.items()):
        for i in range(6):
            rel = f"audio/{name}{i}.wav"
            write_tone(tmp_path / "task" / rel, freq * (1 + 0.02 * i), seed=10 * c + i)
            rows.append(f"{rel},{name},{name}-g{i % 3},{i % 3}")
    path = tmp_path / "task" / "manifest.csv"
    path.write_text("path,label,group,fold\n" + "\n".join(rows) + "\n")
    return path
