"""The synthetic body: 14 elliptic cylinders carrying the 24 DensePose surface patches.

Each segment (torso, head, upper/lower arms and legs, hands, feet: the 14 coarse parts of
``dp_masks``) is a cylinder with an elliptic cross-section, semi-axes ``r_front`` (along the
segment's front direction f) and ``r_side`` (along s = a x f, a = the axis). A surface point has
axial position t in [0, L] and angle phi = atan2(v / r_side, u / r_front). The segment's angular
sectors are the fine patches (docs/densepose_format.md, "Surface patches and coarse parts"): front/back
halves, right/left halves (head) or the whole circumference (hands, feet). In a sector,
U = (phi - start) mod 2 pi / width and V = t / L.

World frame: X to the right of the image, Y up, Z towards the camera; a body frame has x = the
person's left, y = up, z = forward. The camera is orthographic along -Z; the visible surface is the
one with the largest Z. The body is mirror-symmetric, so a horizontal image flip maps (I, U, V) to
(partner(I), 1 - U, V) (see ``mirror_uv``). Units are metres of a 1.63 m adult, like SMPL's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ktn_model.data.meta import COARSE_OF_FINE, NUM_PATCHES

TWO_PI = 2.0 * np.pi
FRONT, BACK = -np.pi / 2, np.pi / 2  # sector starts: front half phi in [-pi/2, pi/2], back the rest
RIGHT_SIDE, LEFT_SIDE, WHOLE = -np.pi, 0.0, -np.pi


@dataclass(frozen=True)
class Segment:
    """One cylinder: ``sectors`` = ((fine I, phi start, phi width), ...)."""

    name: str
    coarse: int
    length: float
    r_front: float
    r_side: float
    sectors: tuple[tuple[int, float, float], ...]


def _halves(front: int, back: int) -> tuple:
    return ((front, FRONT, np.pi), (back, BACK, np.pi))


SEGMENTS = (
    Segment("torso", 1, 0.55, 0.11, 0.16, _halves(2, 1)),
    Segment("head", 14, 0.24, 0.10, 0.085, ((23, RIGHT_SIDE, np.pi), (24, LEFT_SIDE, np.pi))),
    Segment("r_upper_arm", 11, 0.28, 0.05, 0.05, _halves(16, 18)),
    Segment("l_upper_arm", 10, 0.28, 0.05, 0.05, _halves(15, 17)),
    Segment("r_lower_arm", 13, 0.25, 0.04, 0.04, _halves(20, 22)),
    Segment("l_lower_arm", 12, 0.25, 0.04, 0.04, _halves(19, 21)),
    Segment("r_hand", 2, 0.17, 0.02, 0.045, ((3, WHOLE, TWO_PI),)),
    Segment("l_hand", 3, 0.17, 0.02, 0.045, ((4, WHOLE, TWO_PI),)),
    Segment("r_upper_leg", 6, 0.42, 0.075, 0.075, _halves(9, 7)),
    Segment("l_upper_leg", 7, 0.42, 0.075, 0.075, _halves(10, 8)),
    Segment("r_lower_leg", 8, 0.42, 0.05, 0.05, _halves(13, 11)),
    Segment("l_lower_leg", 9, 0.42, 0.05, 0.05, _halves(14, 12)),
    Segment("r_foot", 5, 0.22, 0.045, 0.035, ((6, WHOLE, TWO_PI),)),
    Segment("l_foot", 4, 0.22, 0.045, 0.035, ((5, WHOLE, TWO_PI),)),
)
SEG = {seg.name: k for k, seg in enumerate(SEGMENTS)}
# Fine patch I (index 0..24) -> (segment index, sector start, sector width).
PATCH_SEGMENT = np.zeros(NUM_PATCHES + 1, dtype=np.int64)
PATCH_START = np.zeros(NUM_PATCHES + 1)
PATCH_WIDTH = np.ones(NUM_PATCHES + 1)
for _k, _seg in enumerate(SEGMENTS):
    for _i, _start, _width in _seg.sectors:
        PATCH_SEGMENT[_i], PATCH_START[_i], PATCH_WIDTH[_i] = _k, _start, _width
    assert all(COARSE_OF_FINE[i] == _seg.coarse for i, _, _ in _seg.sectors)

SHOULDER_HEIGHT, SHOULDER_WIDTH = 0.50, 0.19
HIP_HEIGHT, HIP_WIDTH = 0.03, 0.09
FOOT_ANGLE = 1.1  # radians between the lower leg and the foot


@dataclass(frozen=True)
class Pose:
    """Joint angles in radians; arrays are (2,) = (right, left). Zero = standing, arms down."""

    arm_abduct: np.ndarray
    arm_flex: np.ndarray
    elbow: np.ndarray
    leg_abduct: np.ndarray
    leg_flex: np.ndarray
    knee: np.ndarray
    lean: tuple[float, float] = (0.0, 0.0)  # sideways, forwards
    head_tilt: float = 0.0
    yaw: float = 0.0  # 0 = facing the camera, pi = seen from the back
    roll: float = 0.0  # in-plane rotation of the whole person

    def mirrored(self) -> Pose:
        """The pose of the mirror image (X -> -X): sides swap, signed angles negate."""
        swap = {k: getattr(self, k)[::-1].copy() for k in
                ("arm_abduct", "arm_flex", "elbow", "leg_abduct", "leg_flex", "knee")}  # fmt: skip
        return Pose(**swap, lean=(-self.lean[0], self.lean[1]), head_tilt=-self.head_tilt,
                    yaw=-self.yaw, roll=-self.roll)  # fmt: skip


def rest_pose() -> Pose:
    """T-pose facing the camera, legs slightly apart: the pose of the eval-data mesh."""
    half_pi = np.full(2, np.pi / 2)
    return Pose(half_pi, np.zeros(2), np.zeros(2), np.full(2, 0.15), np.zeros(2), np.zeros(2))


@dataclass(frozen=True)
class PosedBody:
    """Segment frames in the person's metric frame: all arrays (14, 3), keypoints (17, 3)."""

    origins: np.ndarray
    axes: np.ndarray
    fronts: np.ndarray
    sides: np.ndarray
    keypoints: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _rotation(yaw: float, roll: float) -> np.ndarray:
    cy, sy, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll)
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return r_roll @ r_yaw


def _bend(d: np.ndarray, towards: np.ndarray, angle: float, fallback: np.ndarray) -> np.ndarray:
    """Rotate unit ``d`` by ``angle`` in the plane spanned by d and ``towards``."""
    e = towards - (towards @ d) * d
    e = fallback - (fallback @ d) * d if np.linalg.norm(e) < 1e-6 else e
    return np.cos(angle) * d + np.sin(angle) * _unit(e)


def _front(axis: np.ndarray, forward: np.ndarray, up: np.ndarray) -> np.ndarray:
    """The segment's front direction: ``forward`` made orthogonal to the axis (``up`` if parallel)."""
    ref = forward if abs(forward @ axis) < 0.9 else up
    return _unit(ref - (ref @ axis) * axis)


def pose_body(pose: Pose) -> PosedBody:
    """Forward kinematics: segment origins, axes and frames plus the 17 COCO keypoints in 3D."""
    rot = _rotation(pose.yaw, pose.roll)
    x_b, y_b, z_b = rot[:, 0], rot[:, 1], rot[:, 2]
    up = _unit(y_b + np.tan(pose.lean[0]) * -x_b + np.tan(pose.lean[1]) * z_b)
    fwd = _front(up, z_b, y_b)
    left = np.cross(up, fwd)
    origins, axes = np.zeros((len(SEGMENTS), 3)), np.zeros((len(SEGMENTS), 3))
    origins[SEG["torso"]], axes[SEG["torso"]] = 0.0, up
    origins[SEG["head"]] = SEGMENTS[SEG["torso"]].length * up
    axes[SEG["head"]] = _unit(up + np.tan(pose.head_tilt) * left)
    joints = {}
    for side, sign in enumerate((-1.0, 1.0)):  # 0 = right (-x_b), 1 = left (+x_b)
        prefix = "rl"[side]
        shoulder = SHOULDER_HEIGHT * up + sign * SHOULDER_WIDTH * left
        hip = HIP_HEIGHT * up + sign * HIP_WIDTH * left
        arm = np.cos(pose.arm_abduct[side]) * -up + np.sin(pose.arm_abduct[side]) * sign * left
        arm = np.cos(pose.arm_flex[side]) * arm + np.sin(pose.arm_flex[side]) * fwd
        fore = _bend(arm, fwd, pose.elbow[side], up)
        leg = np.cos(pose.leg_abduct[side]) * -up + np.sin(pose.leg_abduct[side]) * sign * left
        leg = np.cos(pose.leg_flex[side]) * leg + np.sin(pose.leg_flex[side]) * fwd
        shin = _bend(leg, -fwd, pose.knee[side], up)
        foot = _bend(shin, fwd, FOOT_ANGLE, -up)
        chains = ((shoulder, ("upper_arm", arm), ("lower_arm", fore), ("hand", fore)),
                  (hip, ("upper_leg", leg), ("lower_leg", shin), ("foot", foot)))  # fmt: skip
        for start, *links in chains:
            point = start
            for name, direction in links:
                k = SEG[f"{prefix}_{name}"]
                origins[k], axes[k] = point, direction
                point = point + SEGMENTS[k].length * direction
                joints[f"{prefix}_{name}"] = origins[k]
    fronts = np.stack([_front(a, fwd, up) for a in axes])
    sides = np.cross(axes, fronts)
    body = PosedBody(origins, axes, fronts, sides, np.zeros((17, 3)))
    return PosedBody(origins, axes, fronts, sides, _keypoints(body, joints))


def _keypoints(body: PosedBody, joints: dict) -> np.ndarray:
    """17 COCO keypoints (meta.KEYPOINT_NAMES order): face points on the head, joint centres."""
    head = SEG["head"]
    face = [(0.40, 0.0), (0.55, 0.4), (0.55, -0.4), (0.45, np.pi / 2), (0.45, -np.pi / 2)]
    points = [surface_point(body, np.array([head]), np.array([t]), np.array([phi]))[0] for t, phi in face]
    for name in ("upper_arm", "lower_arm", "hand", "upper_leg", "lower_leg", "foot"):
        points += [joints[f"l_{name}"], joints[f"r_{name}"]]
    return np.stack(points)


def surface_point(body: PosedBody, seg: np.ndarray, v_axial: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """3D points (P, 3) of segments ``seg`` (P,) at V = ``v_axial`` (P,) and angle ``phi`` (P,)."""
    r_front = np.array([s.r_front for s in SEGMENTS])[seg]
    r_side = np.array([s.r_side for s in SEGMENTS])[seg]
    length = np.array([s.length for s in SEGMENTS])[seg]
    return (body.origins[seg] + (v_axial * length)[:, None] * body.axes[seg]
            + (r_front * np.cos(phi))[:, None] * body.fronts[seg]
            + (r_side * np.sin(phi))[:, None] * body.sides[seg])  # fmt: skip


def iuv_to_point(body: PosedBody, i: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Surface points (P, 3) of DensePose coordinates: patch ``i`` (P,) in 1..24, ``u``, ``v`` (P,)."""
    phi = PATCH_START[i] + u * PATCH_WIDTH[i]
    return surface_point(body, PATCH_SEGMENT[i], v, phi)


def mirror_uv(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(U, V) of the mirror image of a surface point, on the partner patch (body is symmetric)."""
    return 1.0 - u, v


@dataclass(frozen=True)
class Hits:
    """Ray-cast result for P pixels: ``hit`` (P,) bool, ``depth``, ``i``, ``u``, ``v``, ``shade`` (P,)."""

    hit: np.ndarray
    depth: np.ndarray
    i: np.ndarray
    u: np.ndarray
    v: np.ndarray
    shade: np.ndarray


def cast_segment(body: PosedBody, k: int, x: np.ndarray, y: np.ndarray) -> Hits:
    """Intersect the rays through (x, y) (P,) along -Z with segment ``k``'s visible surface.

    The cylinder is extended by half its smaller radius at both ends (V clipped to [0, 1]) so that
    bent joints close; it has no end caps.
    """
    seg = SEGMENTS[k]
    c, a, f, s = body.origins[k], body.axes[k], body.fronts[k], body.sides[k]
    dx, dy = x - c[0], y - c[1]
    t0 = dx * a[0] + dy * a[1] - c[2] * a[2]
    u0 = dx * f[0] + dy * f[1] - c[2] * f[2]
    v0 = dx * s[0] + dy * s[1] - c[2] * s[2]
    qa = (f[2] / seg.r_front) ** 2 + (s[2] / seg.r_side) ** 2
    qb = u0 * f[2] / seg.r_front**2 + v0 * s[2] / seg.r_side**2
    qc = (u0 / seg.r_front) ** 2 + (v0 / seg.r_side) ** 2 - 1.0
    disc = qb * qb - qa * qc
    z = (-qb + np.sqrt(np.maximum(disc, 0.0))) / max(qa, 1e-12)
    t, u, v = t0 + z * a[2], u0 + z * f[2], v0 + z * s[2]
    ext = 0.5 * min(seg.r_front, seg.r_side)
    hit = (disc >= 0) & (qa > 1e-12) & (t >= -ext) & (t <= seg.length + ext)
    phi = np.arctan2(v / seg.r_side, u / seg.r_front)
    patch, coord_u = np.zeros(x.shape, dtype=np.int64), np.zeros(x.shape)
    for i, start, width in seg.sectors:
        rel = np.mod(phi - start, TWO_PI)
        inside = rel <= width
        patch = np.where(inside & (patch == 0), i, patch)
        coord_u = np.where(patch == i, rel / width, coord_u)
    nu, nv = u / seg.r_front**2, v / seg.r_side**2
    shade = np.abs(nu * f[2] + nv * s[2]) / np.maximum(np.hypot(nu, nv), 1e-12)
    return Hits(hit, z, patch, np.clip(coord_u, 0, 1), np.clip(t / seg.length, 0, 1), shade)


def segment_extent(body: PosedBody, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper (X, Y) corners (2,) bounding segment ``k``'s projection."""
    seg = SEGMENTS[k]
    pad = max(seg.r_front, seg.r_side) + 0.5 * min(seg.r_front, seg.r_side)
    ends = np.stack([body.origins[k] - pad * body.axes[k], body.origins[k] + (seg.length + pad) * body.axes[k]])
    return ends[:, :2].min(0) - pad, ends[:, :2].max(0) + pad
