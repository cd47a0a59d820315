"""The presets (``configs/``) and default graphs (``graphs/``) that ship with the package.

In a source tree they are the repository's folders; an installed wheel carries them as package data
(``ktn_model/configs``, ``ktn_model/graphs``). So ``--config-file ktn_tiny_cpu`` or
``--config-file detectron2/densepose_rcnn_R_50_FPN_s1x.yaml`` and the default ``graphs/v2.pkl`` work from
any directory.
"""

from __future__ import annotations

from pathlib import Path

KINDS = ("configs", "graphs")


def shipped(kind: str) -> Path:
    """The folder of ``kind`` ("configs" or "graphs"): the wheel's package data, else the source tree's."""
    package = Path(__file__).resolve().parent
    for root in (package / kind, package.parent / kind):
        if root.is_dir():
            return root
    raise FileNotFoundError(f"the installed package has no {kind}/ folder")


def presets() -> list[str]:
    """Every shipped preset, relative to the configs folder (e.g. ``detectron2/densepose_rcnn_R_50_FPN_s1x.yaml``)."""
    root = shipped("configs")
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.yaml") if not p.name.startswith("Base-"))


def resolve_config(name: str | Path) -> Path:
    """``name`` as given when it is a file, else the shipped preset of that name (with or without .yaml)."""
    path = Path(name)
    if path.is_file():
        return path
    root = shipped("configs")
    relative = Path(*path.parts[1:]) if path.parts[:1] == ("configs",) else path
    for candidate in (root / relative, root / f"{relative}.yaml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{name}: config file not found, nor a preset ({', '.join(presets())})")


def resolve_graph(name: str | Path) -> Path:
    """``name`` as given when it exists; ``graphs/<file>`` falls back to the shipped graph of that name."""
    path = Path(name)
    if path.exists() or path.is_absolute() or path.parent != Path("graphs"):
        return path
    candidate = shipped("graphs") / path.name
    return candidate if candidate.is_file() else path
