"""Names of the 24 surface patches and of the body parts of the KTNv2 paper's category evaluation (Table XI).

``PATCH_NAMES[I - 1]`` names patch I (docs/densepose_format.md, "Surface patches and coarse parts"); ``GROUPS`` are
the ten parts of Table XI (head, torso, right/left arm, hand, leg, foot) as sets of patches; ``select`` turns
names given on the command line into parts. See docs/densepose_format.md, "Per-part analysis".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PATCH_NAMES = (
    "torso back", "torso front", "right hand", "left hand", "left foot", "right foot",
    "upper leg right back", "upper leg left back", "upper leg right front", "upper leg left front",
    "lower leg right back", "lower leg left back", "lower leg right front", "lower leg left front",
    "upper arm left front", "upper arm right front", "upper arm left back", "upper arm right back",
    "lower arm left front", "lower arm right front", "lower arm left back", "lower arm right back",
    "head right", "head left",
)  # fmt: skip
GROUPS = {
    "Head": (23, 24),
    "Torso": (1, 2),
    "R-Arm": (16, 18, 20, 22),
    "L-Arm": (15, 17, 19, 21),
    "R-Hand": (3,),
    "L-Hand": (4,),
    "R-Leg": (7, 9, 11, 13),
    "L-Leg": (8, 10, 12, 14),
    "R-Foot": (6,),
    "L-Foot": (5,),
}
WHOLE_BODY = "All"


@dataclass(frozen=True)
class Part:
    """A row of the per-part table: ``level`` "all", "group" or "patch", its ``name`` and its patches (1..24)."""

    level: str
    name: str
    patches: tuple[int, ...]


def all_parts() -> list[Part]:
    """The whole body, the ten groups and the 24 patches, in that order."""
    return ([Part("all", WHOLE_BODY, tuple(range(1, len(PATCH_NAMES) + 1)))]
            + [Part("group", name, patches) for name, patches in GROUPS.items()]
            + [Part("patch", name, (i,)) for i, name in enumerate(PATCH_NAMES, start=1)])  # fmt: skip


def _key(name: str) -> str:
    return re.sub(r"[\s_-]+", " ", name.strip().lower())


def select(names: list[str] | None) -> list[Part]:
    """The parts named (a group, a patch name or number, or "all"; case, '-' and '_' do not matter), in the
    order given; every part when ``names`` is empty. An unknown name is a ValueError listing the valid ones."""
    parts = all_parts()
    if not names:
        return parts
    by_key = {_key(p.name): p for p in parts} | {str(p.patches[0]): p for p in parts if p.level == "patch"}
    unknown = [n for n in names if _key(n) not in by_key]
    if unknown:
        raise ValueError(f"unknown part {unknown[0]!r}; parts: {WHOLE_BODY}, {', '.join(GROUPS)}, a patch number "
                         f"1-{len(PATCH_NAMES)} or a patch name ({', '.join(PATCH_NAMES)})")  # fmt: skip
    return [by_key[_key(n)] for n in names]
