"""AudioSet-style label tags of a clip: ";"-joined "kind:value" pairs read from its source's label columns."""
from __future__ import annotations

from typing import Callable, Mapping

from pipeline.demo.instruments import GM_FAMILIES, PITCH_CLASSES

# source -> tags of one clip; labels as the clip functions return them (GM family and pitch class as numbers)
TAGGERS: dict[str, Callable[[Mapping], list[str]]] = {
    "instrument": lambda l: [f"family:{GM_FAMILIES[int(l['family'])]}",
                             f"pitch_class:{PITCH_CLASSES[int(l['pitch_class'])]}"],
    "speech": lambda l: [f"word:{l['word']}"],
    "noisy_speech": lambda l: [f"word:{l['word']}", f"background:{l['background']}"],
    "percussion": lambda l: [f"kit_piece:{p}" for p in l["kit_piece"].split("+")],
    "events": lambda l: [f"event:{l['event']}"],
    "sentences": lambda l: [f"language:{l['language']}"],
    "background": lambda l: [f"background:{l['background']}"],
    "scenes": lambda l: l["scene_tags"].split(";"),
}


def tags(source: str, labels: Mapping) -> str:
    """The tags of one clip of `source`, e.g. "family:piano;pitch_class:C" (no commas: they split labels too)."""
    return ";".join(dict.fromkeys(TAGGERS[source](labels)))
