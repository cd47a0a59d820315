"""Drawing synthetic persons: random poses and placements, z-buffer rendering, appearance.

A person is the articulated body of ``body.py`` scaled to pixels; rendering casts one ray per pixel
centre against every segment (orthographic camera) and keeps the nearest surface. See
data/README.md for the appearance model.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ktn_model.data import body
from ktn_model.data.meta import NUM_PATCHES

BODY_HEIGHT = 1.75  # metres from the feet to the top of the head, used to size persons
NO_DP_PROB = 0.15  # share of persons drawn without a DensePose annotation


@dataclass(frozen=True)
class Person:
    """One rendered person: pixel (x, y) = (tx + X * scale, ty - Y * scale); nearer = larger depth."""

    body: body.PosedBody
    scale: float
    tx: float
    ty: float
    depth: float
    tint: np.ndarray
    has_dp: bool


@dataclass(frozen=True)
class Buffers:
    """Per-pixel render output (H, W): person id (-1 = none), depth, fine patch I, U, V, shade."""

    pid: np.ndarray
    depth: np.ndarray
    i: np.ndarray
    u: np.ndarray
    v: np.ndarray
    shade: np.ndarray


def sample_pose(rng: np.random.Generator) -> body.Pose:
    """A random pose: mostly frontal, some from the back or the side, limbs anywhere plausible."""
    view = rng.random()
    yaw = rng.uniform(-0.9, 0.9) + (np.pi if view > 0.6 else 0.0)
    yaw = rng.choice([-1.0, 1.0]) * np.pi / 2 + rng.uniform(-0.4, 0.4) if view > 0.85 else yaw
    return body.Pose(
        arm_abduct=rng.uniform(0.05, 2.6, 2), arm_flex=rng.uniform(-0.5, 1.1, 2), elbow=rng.uniform(0, 2.0, 2),
        leg_abduct=rng.uniform(0.0, 0.5, 2), leg_flex=rng.uniform(-0.4, 1.0, 2), knee=rng.uniform(0, 1.6, 2),
        lean=(rng.normal(0, 0.12), rng.normal(0, 0.15)), head_tilt=rng.normal(0, 0.15),
        yaw=yaw, roll=rng.normal(0, 0.2),
    )  # fmt: skip


def _body_extent(posed: body.PosedBody) -> tuple[np.ndarray, np.ndarray]:
    """Metric (X, Y) lower and upper corners of the whole body's projection."""
    lows, highs = zip(*(body.segment_extent(posed, k) for k in range(len(body.SEGMENTS))), strict=True)
    return np.min(lows, 0), np.max(highs, 0)


def _place(rng: np.random.Generator, posed: body.PosedBody, height_px: float, width: int, height: int,
           depth: float, has_dp: bool, centre: tuple[float, float] | None = None) -> Person:  # fmt: skip
    """Scale a posed body to ``height_px`` and put its projection's centre at ``centre`` (or anywhere)."""
    scale = height_px / BODY_HEIGHT
    low, high = _body_extent(posed)
    mid = (low + high) / 2
    if centre is None:
        half = (high - low) * scale / 2
        centre = (rng.uniform(half[0] * 0.6, max(width - half[0] * 0.6, half[0] * 0.6 + 1)),
                  rng.uniform(half[1] * 0.7, max(height - half[1] * 0.7, half[1] * 0.7 + 1)))  # fmt: skip
    tint = 1.0 + rng.normal(0, 0.05, 3)
    return Person(posed, scale, centre[0] - mid[0] * scale, centre[1] + mid[1] * scale, depth, tint, has_dp)


def sample_persons(rng: np.random.Generator, width: int, height: int) -> list[Person]:
    """1-4 persons of different sizes; larger ones are nearer the camera and may overlap others."""
    count = int(rng.choice([1, 2, 3, 4], p=[0.3, 0.35, 0.2, 0.15]))
    sizes = np.sort(rng.uniform(0.3, 0.95, count) * height)
    return [_place(rng, body.pose_body(sample_pose(rng)), size, width, height, 10.0 * (k + 1),
                   rng.random() > NO_DP_PROB) for k, size in enumerate(sizes)]  # fmt: skip


def box_of(person: Person) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) pixel box of a person's whole projection."""
    low, high = _body_extent(person.body)
    return (person.tx + low[0] * person.scale, person.ty - high[1] * person.scale,
            person.tx + high[0] * person.scale, person.ty - low[1] * person.scale)


def place_inside(rng: np.random.Generator, host: Person, width: int, height: int) -> Person:
    """A new person 0.7-1.0 times ``host``'s height whose centre lies in the middle 60 % of ``host``'s box, just in
    front of or just behind it (a second person inside one box)."""
    x0, y0, x1, y1 = box_of(host)
    centre = (x0 + (x1 - x0) * rng.uniform(0.2, 0.8), y0 + (y1 - y0) * rng.uniform(0.2, 0.8))
    size = host.scale * BODY_HEIGHT * rng.uniform(0.7, 1.0)
    depth = host.depth + float(rng.choice([-5.0, 5.0]))
    return _place(rng, body.pose_body(sample_pose(rng)), size, width, height, depth, rng.random() > NO_DP_PROB,
                  centre)


def sample_crowd(rng: np.random.Generator, width: int, height: int) -> list[Person]:
    """5-9 small persons huddled around one spot, behind everybody else (a COCO crowd region)."""
    centre = rng.uniform([0.15 * width, 0.2 * height], [0.85 * width, 0.8 * height])
    size = rng.uniform(0.1, 0.18) * height
    spread = np.array([1.2 * size, 0.3 * size])
    count = int(rng.integers(5, 10))
    return [_place(rng, body.pose_body(sample_pose(rng)), size * rng.uniform(0.85, 1.15), width, height,
                   -1.0 - k, False, centre + rng.uniform(-spread, spread)) for k in range(count)]  # fmt: skip


def _window(person: Person, k: int, width: int, height: int) -> tuple[slice, slice] | None:
    """Pixel rows and columns covering segment ``k``'s projection, clipped to the image (or None)."""
    low, high = body.segment_extent(person.body, k)
    x0, x1 = np.clip([person.tx + low[0] * person.scale, person.tx + high[0] * person.scale + 1], 0, width)
    y0, y1 = np.clip([person.ty - high[1] * person.scale, person.ty - low[1] * person.scale + 1], 0, height)
    if int(x1) <= int(x0) or int(y1) <= int(y0):
        return None
    return slice(int(y0), int(y1)), slice(int(x0), int(x1))


def render(persons: list[Person], width: int, height: int) -> Buffers:
    """Z-buffer ray casting of every segment of every person at the pixel centres."""
    buf = Buffers(np.full((height, width), -1, np.int32), np.full((height, width), -np.inf),
                  np.zeros((height, width), np.int64), *(np.zeros((height, width)) for _ in range(3)))  # fmt: skip
    for pid, person in enumerate(persons):
        for k in range(len(body.SEGMENTS)):
            window = _window(person, k, width, height)
            if window is None:
                continue
            py, px = np.mgrid[window]
            hits = body.cast_segment(person.body, k, (px + 0.5 - person.tx) / person.scale,
                                     (person.ty - py - 0.5) / person.scale)  # fmt: skip
            depth = person.depth + hits.depth
            win = hits.hit & (depth > buf.depth[window])
            buf.pid[window][win] = pid
            for name, value in (("depth", depth), ("i", hits.i), ("u", hits.u), ("v", hits.v), ("shade", hits.shade)):
                getattr(buf, name)[window][win] = value[win]
    return buf


def _palette() -> np.ndarray:
    """(25, 3) RGB base colour per fine patch (row 0 unused): the points of {0.1, 0.5, 0.9}^3 except
    black, grey and white, in a fixed stride-7 order so that neighbouring patch ids differ widely."""
    levels = (0.1, 0.5, 0.9)
    grid = [c for c in itertools.product(levels, repeat=3) if len(set(c)) > 1]
    return np.array([(0.0, 0.0, 0.0)] + [grid[(7 * k) % NUM_PATCHES] for k in range(NUM_PATCHES)])


PALETTE = _palette()


def background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(H, W, 3) float RGB: a vertical gradient with 3-7 random rectangles and ellipses."""
    top, bottom = rng.uniform(0.1, 0.9, (2, 3))
    ramp = np.linspace(0.0, 1.0, height)[:, None, None]
    image = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3)).copy()
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(rng.integers(3, 8)):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.05, 0.35) * width, rng.uniform(0.05, 0.35) * height
        if rng.random() < 0.5:
            inside = (np.abs(xx - cx) < rx) & (np.abs(yy - cy) < ry)
        else:
            inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
        image[inside] = rng.uniform(0.05, 0.95, 3)
    return image


def shade_persons(image: np.ndarray, buf: Buffers, persons: list[Person]) -> np.ndarray:
    """Paint visible body pixels: patch colour mixed with (U, V, 1-U), a UV checker, shading, tint."""
    on = buf.pid >= 0
    i, u, v = buf.i[on], buf.u[on], buf.v[on]
    colour = 0.75 * PALETTE[i] + 0.25 * np.stack([u, v, 1.0 - u], 1)
    checker = (np.floor(u * 4) + np.floor(v * 4)) % 2
    light = (0.75 + 0.25 * buf.shade[on]) * (0.94 + 0.12 * checker)
    tints = np.stack([p.tint for p in persons])[buf.pid[on]]
    image[on] = colour * light[:, None] * tints
    return image
