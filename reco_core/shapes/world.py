"""The ReCo-Shapes world: coloured shapes moving over a slowly panning, muted texture.

A `Scene` is a resolution-free description (positions in units of the frame's shorter side, times in
seconds); `render_scene` draws it at any `WorldConfig` size. Rendering is deterministic numpy float64
maths, anti-aliased analytically from signed distances, and quantized to 8-bit levels so a clip
survives a PNG round trip bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..checks import check_half_size, check_length
from ..errors import ReCoInputError

SHAPE_KINDS: tuple[str, ...] = ("circle", "square", "triangle")

#: Saturated or bright, far from every background colour (see `BACKGROUND_PALETTE`). Given in 8-bit
#: levels so fully covered pixels hold exactly these values after quantization.
SHAPE_COLORS_8BIT: dict[str, tuple[int, int, int]] = {
    "red": (235, 30, 30),
    "green": (30, 200, 56),
    "blue": (38, 77, 242),
    "yellow": (250, 219, 31),
    "white": (250, 250, 250),
}
SHAPE_COLORS: dict[str, tuple[float, float, float]] = {
    name: tuple(level / 255 for level in levels) for name, levels in SHAPE_COLORS_8BIT.items()
}

#: Earthy, low-chroma base tones. With the texture's modulation every background channel stays in
#: 0.2..0.7 and its chroma (max - min channel) below 0.2, so no background pixel can pass for a shape.
BACKGROUND_PALETTE: dict[str, tuple[float, float, float]] = {
    "olive": (0.47, 0.45, 0.33),
    "umber": (0.46, 0.38, 0.32),
    "khaki": (0.54, 0.50, 0.40),
    "slate": (0.38, 0.41, 0.44),
    "clay": (0.51, 0.42, 0.37),
    "moss": (0.38, 0.44, 0.33),
    "taupe": (0.48, 0.44, 0.41),
}

#: Shape size is the diameter of the circle of equal area, as a fraction of the shorter frame side.
MIN_SHAPE_SIZE = 0.15
MAX_SHAPE_SIZE = 0.30
#: Farthest point of any kind from its centre, in equal-area radii (the triangle's circumradius).
#: Trajectories bounce at this margin so a shape never leaves the frame, whatever its kind.
SHAPE_EXTENT = 1.56
MAX_SHAPES = 3


@dataclass(frozen=True)
class WorldConfig:
    """Clip geometry: per-clip width and height in pixels (multiples of 16), 4n+1 frames, frame rate."""

    width: int = 64
    height: int = 64
    num_frames: int = 17
    fps: int = 8

    def __post_init__(self):
        check_half_size(self.width, self.height)
        check_length(self.num_frames, name="num_frames")
        if int(self.fps) != self.fps or self.fps < 1:
            raise ReCoInputError("fps", f"{self.fps} is not a positive whole number", "Use e.g. 8 or 16.")

    @property
    def unit(self) -> int:
        """Pixels per world unit (the shorter frame side)."""
        return min(self.width, self.height)

    @property
    def extent(self) -> tuple[float, float]:
        """World width and height in world units (the shorter one is 1)."""
        return self.width / self.unit, self.height / self.unit


@dataclass(frozen=True)
class Shape:
    """One moving shape. Positions are in world units, speeds per second, angles in radians."""

    kind: str
    color: str
    size: float
    start: tuple[float, float]
    velocity: tuple[float, float]
    wobble_amplitude: float = 0.0
    wobble_frequency: float = 0.0
    wobble_phase: float = 0.0
    angle: float = 0.0
    spin: float = 0.0
    #: A shape that rides along with another keeps `offset` (world units) from that shape's centre
    #: and ignores its own start, velocity and wobble.
    follows: "Shape | None" = None
    offset: tuple[float, float] = (0.0, 0.0)

    @property
    def radius(self) -> float:
        """Radius of the circle with the same area."""
        return self.size / 2

    @property
    def name(self) -> str:
        """How instructions refer to it, e.g. "red circle"."""
        return f"{self.color} {self.kind}"


@dataclass(frozen=True)
class Wave:
    """One plane cosine of the background texture: frequency vector in cycles per world unit."""

    frequency: tuple[float, float]
    phase: float
    amplitude: float


@dataclass(frozen=True)
class Background:
    """A muted base tone modulated in brightness and warmth by two smooth wave fields, panning."""

    base_color: tuple[float, float, float]
    brightness_waves: tuple[Wave, ...]
    warmth_waves: tuple[Wave, ...]
    brightness_amplitude: float
    warmth_amplitude: float
    pan_velocity: tuple[float, float]


@dataclass(frozen=True)
class Scene:
    """A background and up to three shapes; later shapes are drawn on top."""

    background: Background
    shapes: tuple[Shape, ...] = field(default_factory=tuple)

    def find(self, color: str, kind: str) -> int | None:
        """Index of the shape with this colour and kind, or None."""
        for index, shape in enumerate(self.shapes):
            if shape.color == color and shape.kind == kind:
                return index
        return None


@dataclass
class RenderedScene:
    """`frames` [T, H, W, 3] float32 on 8-bit levels; `coverage` [N, T, H, W] float32, one per shape.

    Coverage is each shape's own anti-aliased footprint, before occlusion by shapes above it.
    """

    frames: torch.Tensor
    coverage: torch.Tensor


# ----------------------------------------------------------------------------------------------
# Sampling


def all_shape_names() -> list[tuple[str, str]]:
    """Every (color, kind) pair of the world."""
    return [(color, kind) for color in SHAPE_COLORS for kind in SHAPE_KINDS]


def sample_shape(rng: np.random.Generator, color: str, kind: str, config: WorldConfig) -> Shape:
    """A shape of this colour and kind with a random size, start, smooth trajectory and spin."""
    size = rng.uniform(MIN_SHAPE_SIZE, MAX_SHAPE_SIZE)
    margin = SHAPE_EXTENT * size / 2
    world_w, world_h = config.extent
    start = (rng.uniform(margin, world_w - margin), rng.uniform(margin, world_h - margin))
    speed = rng.uniform(0.08, 0.25)
    heading = rng.uniform(0, 2 * math.pi)
    curved = rng.random() < 0.5
    return Shape(
        kind=kind,
        color=color,
        size=float(size),
        start=(float(start[0]), float(start[1])),
        velocity=(float(speed * math.cos(heading)), float(speed * math.sin(heading))),
        wobble_amplitude=float(rng.uniform(0.02, 0.06)) if curved else 0.0,
        wobble_frequency=float(rng.uniform(0.8, 2.5)) if curved else 0.0,
        wobble_phase=float(rng.uniform(0, 2 * math.pi)),
        angle=float(rng.uniform(0, 2 * math.pi)),
        spin=float(rng.uniform(-0.6, 0.6)),
    )


def _sample_waves(rng: np.random.Generator, count: int, min_cycles: float, max_cycles: float) -> tuple[Wave, ...]:
    waves = []
    for _ in range(count):
        cycles = rng.uniform(min_cycles, max_cycles)
        direction = rng.uniform(0, 2 * math.pi)
        waves.append(
            Wave(
                frequency=(float(cycles * math.cos(direction)), float(cycles * math.sin(direction))),
                phase=float(rng.uniform(0, 2 * math.pi)),
                amplitude=float(1 / cycles),
            )
        )
    return tuple(waves)


def sample_background(rng: np.random.Generator) -> Background:
    """A random muted texture panning at about 0.15 to 1.5 pixels per frame at the default size."""
    names = sorted(BACKGROUND_PALETTE)
    base = np.asarray(BACKGROUND_PALETTE[names[rng.integers(len(names))]]) + rng.uniform(-0.02, 0.02, 3)
    pan_speed = rng.uniform(0.02, 0.18)
    pan_heading = rng.uniform(0, 2 * math.pi)
    return Background(
        base_color=tuple(float(c) for c in base),
        brightness_waves=_sample_waves(rng, 6, 1.0, 7.0),
        warmth_waves=_sample_waves(rng, 3, 0.7, 3.0),
        brightness_amplitude=float(rng.uniform(0.06, 0.10)),
        warmth_amplitude=float(rng.uniform(0.02, 0.04)),
        pan_velocity=(float(pan_speed * math.cos(pan_heading)), float(pan_speed * math.sin(pan_heading))),
    )


def sample_scene(rng: np.random.Generator, config: WorldConfig, num_shapes: int) -> Scene:
    """A scene with `num_shapes` shapes of distinct (color, kind), so every shape has a unique name."""
    choices = all_shape_names()
    picked = rng.choice(len(choices), size=num_shapes, replace=False)
    background = sample_background(rng)
    shapes = tuple(sample_shape(rng, *choices[index], config) for index in picked)
    return Scene(background=background, shapes=shapes)


def with_shapes(scene: Scene, shapes: tuple[Shape, ...]) -> Scene:
    """The same background with other shapes."""
    return replace(scene, shapes=tuple(shapes))


# ----------------------------------------------------------------------------------------------
# Rendering


def frame_times(config: WorldConfig) -> np.ndarray:
    """Time of each frame in seconds, [T]."""
    return np.arange(config.num_frames, dtype=np.float64) / config.fps


def pixel_grid(config: WorldConfig) -> tuple[np.ndarray, np.ndarray]:
    """World coordinates of the pixel centres, each [H, W]."""
    xs = (np.arange(config.width, dtype=np.float64) + 0.5) / config.unit
    ys = (np.arange(config.height, dtype=np.float64) + 0.5) / config.unit
    return np.meshgrid(xs, ys, indexing="xy")


def _bounce(position: np.ndarray, low: float, high: float) -> np.ndarray:
    """Fold positions into [low, high] as a ball bouncing between two walls would."""
    span = high - low
    folded = np.mod(position - low, 2 * span)
    return low + np.where(folded > span, 2 * span - folded, folded)


def shape_centers(shape: Shape, config: WorldConfig) -> np.ndarray:
    """Centre of the shape at each frame, [T, 2] in world units.

    Straight motion plus an optional sideways sine wobble, bounced off the frame edges so the whole
    shape stays visible; a shape that follows another sits at its fixed offset from it.
    """
    if shape.follows is not None:
        return shape_centers(shape.follows, config) + np.asarray(shape.offset)
    times = frame_times(config)
    velocity = np.asarray(shape.velocity)
    speed = np.linalg.norm(velocity)
    sideways = np.array([-velocity[1], velocity[0]]) / speed if speed > 0 else np.zeros(2)
    wobble = shape.wobble_amplitude * np.sin(shape.wobble_frequency * times + shape.wobble_phase)
    raw = np.asarray(shape.start) + times[:, None] * velocity + wobble[:, None] * sideways
    margin = SHAPE_EXTENT * shape.radius
    world_w, world_h = config.extent
    return np.stack(
        [_bounce(raw[:, 0], margin, world_w - margin), _bounce(raw[:, 1], margin, world_h - margin)], axis=1
    )


def inside_frame(shape: Shape, config: WorldConfig) -> bool:
    """Whether the whole shape stays in the frame at every frame (its centre within the bounce margin)."""
    centers = shape_centers(shape, config)
    margin = SHAPE_EXTENT * shape.radius
    world_w, world_h = config.extent
    return bool(((centers >= margin) & (centers <= np.array([world_w, world_h]) - margin)).all())


def _circle_distance(x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    return np.hypot(x, y) - radius


def _square_distance(x: np.ndarray, y: np.ndarray, half_side: float) -> np.ndarray:
    dx = np.abs(x) - half_side
    dy = np.abs(y) - half_side
    outside = np.hypot(np.maximum(dx, 0), np.maximum(dy, 0))
    inside = np.minimum(np.maximum(dx, dy), 0)
    return outside + inside


def _triangle_distance(x: np.ndarray, y: np.ndarray, half_side: float) -> np.ndarray:
    """Exact signed distance to an equilateral triangle centred on its centroid (after Inigo Quilez)."""
    k = math.sqrt(3)
    px = np.abs(x) - half_side
    py = y + half_side / k
    fold = px + k * py > 0
    px, py = np.where(fold, (px - k * py) / 2, px), np.where(fold, (-k * px - py) / 2, py)
    px = px - np.clip(px, -2 * half_side, 0)
    return -np.hypot(px, py) * np.sign(py)


def shape_distance(shape: Shape, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance (world units, negative inside) from points in the shape's own frame."""
    r = shape.radius
    if shape.kind == "circle":
        return _circle_distance(x, y, r)
    if shape.kind == "square":
        return _square_distance(x, y, r * math.sqrt(math.pi) / 2)
    if shape.kind == "triangle":
        return _triangle_distance(x, y, r * math.sqrt(math.pi / math.sqrt(3)))
    raise ReCoInputError("kind", f"unknown shape kind {shape.kind!r}", f"Use one of {', '.join(SHAPE_KINDS)}.")


def shape_coverage(shape: Shape, config: WorldConfig) -> np.ndarray:
    """Anti-aliased coverage of the shape at every pixel, [T, H, W] float64 in 0..1.

    Coverage is 0.5 minus the signed distance in pixels, clipped: a one-pixel linear ramp across the
    edge, which is what a box filter gives for a straight edge.
    """
    grid_x, grid_y = pixel_grid(config)
    centers = shape_centers(shape, config)
    angles = shape.angle + shape.spin * frame_times(config)
    dx = grid_x[None] - centers[:, 0, None, None]
    dy = grid_y[None] - centers[:, 1, None, None]
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    local_x, local_y = cos * dx + sin * dy, -sin * dx + cos * dy
    distance_px = shape_distance(shape, local_x, local_y) * config.unit
    return np.clip(0.5 - distance_px, 0.0, 1.0)


def _wave_field(waves: tuple[Wave, ...], pan: tuple[float, float], config: WorldConfig) -> np.ndarray:
    """Sum of the panning cosines normalised to -1..1, [T, H, W].

    A plane wave's phase splits into a column term a(x) and a row-and-time term b(y, t), and
    cos(a + b) = cos a cos b - sin a sin b, so the whole field is one [T, H, 2N] x [2N, W] product
    instead of T*H*W*N cosines.
    """
    xs = (np.arange(config.width) + 0.5) / config.unit
    ys = (np.arange(config.height) + 0.5) / config.unit
    times = frame_times(config)
    frequency = np.array([wave.frequency for wave in waves])  # [N, 2]
    amplitude = np.array([wave.amplitude for wave in waves])  # [N]
    phase = np.array([wave.phase for wave in waves])  # [N]
    column_phase = 2 * math.pi * frequency[:, 0, None] * xs  # [N, W]
    pan_shift = frequency @ np.asarray(pan)  # [N], world units per second along each frequency
    row_phase = 2 * math.pi * (
        frequency[None, None, :, 1] * ys[None, :, None] + pan_shift * times[:, None, None]
    ) + phase  # [T, H, N]
    rows = np.concatenate([amplitude * np.cos(row_phase), -amplitude * np.sin(row_phase)], axis=-1)
    columns = np.concatenate([np.cos(column_phase), np.sin(column_phase)], axis=0)
    return rows @ columns / amplitude.sum()


def render_background(background: Background, config: WorldConfig) -> np.ndarray:
    """The panning texture, [T, H, W, 3] float64."""
    brightness = _wave_field(background.brightness_waves, background.pan_velocity, config)
    warmth = _wave_field(background.warmth_waves, background.pan_velocity, config)
    warm_direction = np.array([0.5, 0.0, -0.5])
    return (
        np.asarray(background.base_color)
        + brightness[..., None] * background.brightness_amplitude
        + warmth[..., None] * (background.warmth_amplitude * warm_direction)
    )


def to_uint8(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    """Frames in 0..1 to uint8 (rounded, clipped)."""
    values = frames.detach().cpu().double().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def from_uint8(values: np.ndarray) -> torch.Tensor:
    """uint8 to float32 in 0..1; the exact inverse of `to_uint8` on 8-bit levels."""
    return torch.from_numpy(np.asarray(values, dtype=np.float32) / np.float32(255.0))


def quantize(frames: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Snap frames to the 256 levels a PNG can hold, as float32."""
    return from_uint8(to_uint8(frames))


def render_scene(scene: Scene, config: WorldConfig, background: np.ndarray | None = None) -> RenderedScene:
    """Draw the scene: background, then each shape over it in order, then quantize to 8 bits.

    `background` may pass in `render_background(scene.background, config)` when several scenes
    share it.
    """
    canvas = render_background(scene.background, config) if background is None else background.copy()
    coverages = []
    for shape in scene.shapes:
        alpha = shape_coverage(shape, config)
        # canvas + 0 * (...) is bit-identical to canvas, so untouched pixels match across scenes exactly.
        canvas += alpha[..., None] * (np.asarray(SHAPE_COLORS[shape.color]) - canvas)
        coverages.append(alpha.astype(np.float32))
    coverage = np.stack(coverages) if coverages else np.zeros((0, *canvas.shape[:-1]), dtype=np.float32)
    return RenderedScene(frames=quantize(canvas), coverage=torch.from_numpy(coverage))
