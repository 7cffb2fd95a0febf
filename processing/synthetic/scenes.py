"""Seeded synthetic scenes: coloured shapes moving over muted backgrounds, with exact per-frame boxes.

A scene is a pure description (background image, object trajectories, occluders, degradations); a frame
is a pure function of the scene and the frame index, so the same seed always gives the same pixels and
the same ground truth.
"""

import math
from dataclasses import dataclass

import cv2
import numpy as np

CLASS_NAMES: tuple[str, ...] = ("box", "disc", "triangle", "ring", "cross")

# Every class has its own shape AND its own hue band, and backgrounds stay desaturated, so a small
# model separates the classes reliably; shape still matters where hues blur together under noise.
_CLASS_HUES_DEGREES = (0.0, 120.0, 225.0, 55.0, 300.0)
_HUE_JITTER_DEGREES = 7.0

# An object counts as ground truth only while enough of it shows; a sliver behind an occluder is
# ambiguous for any detector and would make the figures measure the generator rather than the model.
MIN_VISIBLE_FRACTION = 0.35
MIN_VISIBLE_PIXELS = 40


@dataclass(frozen=True)
class GroundTruthBox:
    frame_index: int
    class_id: int
    x1: float
    y1: float
    x2: float
    y2: float
    object_id: int  # the object's place in Scene.objects: the same id in every frame, a track


@dataclass(frozen=True)
class MovingObject:
    class_id: int
    colour_rgb: tuple[int, int, int]
    start_x: float
    start_y: float
    velocity_x: float  # pixels per frame
    velocity_y: float
    start_size: float  # side of the shape's bounding square, pixels
    growth_per_frame: float  # multiplicative scale change per frame, as a log
    start_angle_degrees: float
    spin_degrees_per_frame: float
    aspect: float  # width / height of discs and rings


@dataclass(frozen=True)
class Occluder:
    """A grey pole sliding across the frame, drawn over every object."""

    start_x: float
    velocity_x: float
    width: float
    grey: int
    horizontal: bool


@dataclass(frozen=True)
class Scene:
    seed: int
    width: int
    height: int
    background: np.ndarray  # height x width x 3, float32 RGB in 0..255
    objects: tuple[MovingObject, ...]  # in drawing order, the last on top
    occluders: tuple[Occluder, ...]
    noise_sigma: float
    blur_sigma: float
    min_size: float
    max_size: float


@dataclass(frozen=True)
class RenderedFrame:
    index: int
    image_rgb: np.ndarray  # height x width x 3 uint8
    boxes: tuple[GroundTruthBox, ...]


def _hsv_to_rgb(*, hue_degrees: float, saturation: float, value: float) -> tuple[int, int, int]:
    pixel = np.array([[[hue_degrees / 2.0 % 180.0, saturation * 255.0, value * 255.0]]], dtype=np.float32)
    rgb = cv2.cvtColor(pixel.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0]
    return int(rgb[0]), int(rgb[1]), int(rgb[2])


def _muted_colour(rng: np.random.Generator) -> np.ndarray:
    grey = rng.uniform(35.0, 220.0)
    tint = rng.normal(0.0, 1.0, size=3)
    tint = tint / (np.linalg.norm(tint) + 1e-6) * rng.uniform(0.0, 28.0)
    return np.clip(grey + tint, 0.0, 255.0).astype(np.float32)


def _gradient_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    angle = rng.uniform(0.0, 2.0 * math.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = xx * math.cos(angle) + yy * math.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1.0)
    start, end = _muted_colour(rng), _muted_colour(rng)
    return start + ramp[..., None] * (end - start)


def _cloud_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    coarse = rng.uniform(0.0, 1.0, size=(rng.integers(3, 9), rng.integers(3, 9), 1)).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    if field.ndim == 2:
        field = field[..., None]
    low, high = _muted_colour(rng), _muted_colour(rng)
    return low + np.clip(field, 0.0, 1.0) * (high - low)


def _texture_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    period = rng.uniform(8.0, 40.0)
    angle = rng.uniform(0.0, math.pi)
    phase = (xx * math.cos(angle) + yy * math.sin(angle)) / period
    if rng.random() < 0.5:
        pattern = (np.floor(phase) % 2).astype(np.float32)  # stripes
    else:
        pattern = ((np.floor(xx / period) + np.floor(yy / period)) % 2).astype(np.float32)  # checks
    low, high = _muted_colour(rng), _muted_colour(rng)
    image = low + pattern[..., None] * (high - low) * rng.uniform(0.2, 0.7)
    # Grey clutter teaches the model that an outline alone is not an object; colour is part of the class.
    for _ in range(int(rng.integers(0, 6))):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = int(rng.integers(6, 30))
        colour = tuple(float(c) for c in _muted_colour(rng))
        if rng.random() < 0.5:
            cv2.circle(image, centre, radius, colour, thickness=-1)
        else:
            cv2.rectangle(image, centre, (centre[0] + radius, centre[1] + radius), colour, thickness=-1)
    return image


_BACKGROUNDS = (_gradient_background, _cloud_background, _texture_background)


def make_scene(
    *,
    seed: int | tuple[int, ...],
    width: int = 320,
    height: int = 240,
    frame_count: int = 60,
    max_objects: int = 6,
) -> Scene:
    """Draw a scene at random from `seed` (an int or a tuple of ints, e.g. (dataset seed, split, index))."""
    entropy = list(seed) if isinstance(seed, tuple) else [seed]
    rng = np.random.default_rng(entropy)
    short_side = min(width, height)
    min_size, max_size = 0.08 * short_side, 0.33 * short_side
    background = _BACKGROUNDS[int(rng.integers(0, len(_BACKGROUNDS)))](rng, width, height).astype(np.float32)

    objects = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        class_id = int(rng.integers(0, len(CLASS_NAMES)))
        hue = _CLASS_HUES_DEGREES[class_id] + rng.uniform(-_HUE_JITTER_DEGREES, _HUE_JITTER_DEGREES)
        start_size = rng.uniform(min_size, max_size)
        # Over the clip the object shrinks or grows by up to about 1.7x: scale change within one track.
        growth = rng.uniform(-0.55, 0.55) / max(frame_count, 1)
        speed = rng.uniform(0.0, 0.04 * short_side)
        heading = rng.uniform(0.0, 2.0 * math.pi)
        objects.append(
            MovingObject(
                class_id=class_id,
                colour_rgb=_hsv_to_rgb(hue_degrees=hue, saturation=rng.uniform(0.6, 1.0), value=rng.uniform(0.6, 1.0)),
                start_x=rng.uniform(0.0, width),
                start_y=rng.uniform(0.0, height),
                velocity_x=speed * math.cos(heading),
                velocity_y=speed * math.sin(heading),
                start_size=start_size,
                growth_per_frame=growth,
                start_angle_degrees=rng.uniform(0.0, 360.0),
                spin_degrees_per_frame=rng.uniform(-4.0, 4.0),
                aspect=rng.uniform(0.75, 1.3),
            )
        )

    occluders = []
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 3))):
            horizontal = bool(rng.random() < 0.5)
            extent = height if horizontal else width
            occluders.append(
                Occluder(
                    start_x=rng.uniform(0.0, extent),
                    velocity_x=rng.uniform(-0.02, 0.02) * extent,
                    width=rng.uniform(0.02, 0.05) * short_side,
                    grey=int(rng.integers(40, 200)),
                    horizontal=horizontal,
                )
            )

    return Scene(
        seed=int(np.random.SeedSequence(entropy).generate_state(1)[0]),
        width=width,
        height=height,
        background=background,
        objects=tuple(objects),
        occluders=tuple(occluders),
        noise_sigma=float(rng.choice([0.0, rng.uniform(2.0, 12.0)])),
        blur_sigma=float(rng.choice([0.0, rng.uniform(0.5, 1.6)])),
        min_size=min_size,
        max_size=max_size,
    )


def _bounce(position: float, low: float, high: float) -> float:
    """Reflect a free-running coordinate into [low, high], as a ball between two walls."""
    span = high - low
    if span <= 0:
        return (low + high) / 2.0
    offset = (position - low) % (2.0 * span)
    return low + (offset if offset <= span else 2.0 * span - offset)


def _object_mask(scene: Scene, item: MovingObject, frame_index: int) -> np.ndarray:
    size = float(
        np.clip(item.start_size * math.exp(item.growth_per_frame * frame_index), scene.min_size, scene.max_size)
    )
    half = size / 2.0
    centre_x = _bounce(item.start_x + item.velocity_x * frame_index, half + 1.0, scene.width - half - 2.0)
    centre_y = _bounce(item.start_y + item.velocity_y * frame_index, half + 1.0, scene.height - half - 2.0)
    angle = math.radians(item.start_angle_degrees + item.spin_degrees_per_frame * frame_index)
    mask = np.zeros((scene.height, scene.width), dtype=np.uint8)
    name = CLASS_NAMES[item.class_id]
    centre = (round(centre_x), round(centre_y))
    if name in ("disc", "ring"):
        axes = (max(round(half * min(item.aspect, 1.0)), 2), max(round(half / max(item.aspect, 1.0)), 2))
        thickness = -1 if name == "disc" else max(round(size * 0.16), 2)
        cv2.ellipse(mask, centre, axes, math.degrees(angle), 0, 360, 1, thickness=thickness)
        return mask
    if name == "box":
        corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        scale = half / math.sqrt(2.0)  # the diagonal stays within the size at any angle
    elif name == "triangle":
        corners = [(math.cos(a), math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
        scale = half
    else:  # cross: a plus sign with arms a third of its size wide
        w = 1.0 / 3.0
        corners = [
            (-w, -1),
            (w, -1),
            (w, -w),
            (1, -w),
            (1, w),
            (w, w),
            (w, 1),
            (-w, 1),
            (-w, w),
            (-1, w),
            (-1, -w),
            (-w, -w),
        ]
        scale = half
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    points = np.array(
        [(centre_x + scale * (x * cos_a - y * sin_a), centre_y + scale * (x * sin_a + y * cos_a)) for x, y in corners],
        dtype=np.float32,
    )
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask


def _occluder_mask(scene: Scene, occluder: Occluder, frame_index: int) -> np.ndarray:
    mask = np.zeros((scene.height, scene.width), dtype=np.uint8)
    extent = scene.height if occluder.horizontal else scene.width
    start = round(_bounce(occluder.start_x + occluder.velocity_x * frame_index, 0.0, extent - occluder.width))
    end = round(start + occluder.width)
    if occluder.horizontal:
        mask[start:end, :] = 1
    else:
        mask[:, start:end] = 1
    return mask


def _visible_box(visible: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(visible.any(axis=1))
    columns = np.flatnonzero(visible.any(axis=0))
    # Pixel i covers [i, i + 1): the box's far edges are one past the last visible pixel.
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def render_frame(*, scene: Scene, frame_index: int, degrade: bool = True) -> RenderedFrame:
    """Draw frame `frame_index` of `scene` and the boxes of the objects visible in it.

    Boxes are the tight bounds of each object's visible pixels before blur and noise; `degrade=False`
    leaves those out, so the drawn pixels can be checked against the boxes exactly.
    """
    image = scene.background.copy()
    masks = [_object_mask(scene, item, frame_index) for item in scene.objects]
    for item, mask in zip(scene.objects, masks, strict=True):
        image[mask.astype(bool)] = item.colour_rgb
    covered = np.zeros((scene.height, scene.width), dtype=bool)
    for occluder in scene.occluders:
        occluder_mask = _occluder_mask(scene, occluder, frame_index).astype(bool)
        image[occluder_mask] = occluder.grey
        covered |= occluder_mask

    boxes: list[GroundTruthBox] = []
    for object_id, (item, mask) in reversed(list(enumerate(zip(scene.objects, masks, strict=True)))):
        drawn = mask.astype(bool)
        visible = drawn & ~covered
        covered |= drawn
        visible_pixels = int(visible.sum())
        if visible_pixels < MIN_VISIBLE_PIXELS or visible_pixels < MIN_VISIBLE_FRACTION * int(drawn.sum()):
            continue
        x1, y1, x2, y2 = _visible_box(visible)
        boxes.append(
            GroundTruthBox(
                frame_index=frame_index, class_id=item.class_id, x1=x1, y1=y1, x2=x2, y2=y2, object_id=object_id
            )
        )
    boxes.reverse()

    if degrade:
        if scene.blur_sigma > 0:
            image = cv2.GaussianBlur(image, (0, 0), scene.blur_sigma)
        if scene.noise_sigma > 0:
            noise_rng = np.random.default_rng([scene.seed, frame_index])
            image = image + noise_rng.normal(0.0, scene.noise_sigma, size=image.shape).astype(np.float32)
    return RenderedFrame(
        index=frame_index,
        image_rgb=np.clip(np.rint(image), 0, 255).astype(np.uint8),
        boxes=tuple(boxes),
    )
