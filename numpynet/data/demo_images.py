"""What one image of the demo dataset shows: the class table, and the drawing.

The classes.  Each class is one shape, filled with one pattern, in one colour family:

    8 shapes   disc, square, triangle, ring, cross, star, bars, crescent
  x 5 patterns solid, striped, checkered, dotted, gradient
  x 8 colours  red, orange, yellow, green, cyan, blue, purple, pink       = 320 classes

enumerated in that order and shuffled once with a fixed seed, so class k is the same class in
every dataset, whatever its ``seed`` (class 0 is always "blue striped square"), and any prefix of
the table mixes shapes, patterns and colours.  The wnids are made up but ImageNet-shaped:
``n9`` + 7 digits, in class order (``n90000000``, ``n90000001``, ...).

The images (``render_image``).  The object is drawn at a random position, size (30-60% of the
side), rotation and pattern phase over clutter: a two-colour gradient, blobs and lines in colours
from the same palette the classes use, one line that may cross the object, and pixel noise.
Colour alone does not give the class away (another class has the same colour, the clutter too);
a classifier has to see shape and texture, as a CNN does.

Everything random comes from the generator passed in, so an image is a pure function of (class,
generator state); numpynet/data/demo.py seeds one generator per image and writes the dataset.
"""

import colorsys
import math

import numpy as np
from PIL import Image, ImageDraw

# ---------------------------------------------------------------------------------------------
# The class table
# ---------------------------------------------------------------------------------------------

SHAPES = ("disc", "square", "triangle", "ring", "cross", "star", "bars", "crescent")
PATTERNS = ("solid", "striped", "checkered", "dotted", "gradient")
COLOURS = {  # colour family -> hue in degrees
    "red": 0, "orange": 28, "yellow": 55, "green": 120,
    "cyan": 185, "blue": 225, "purple": 275, "pink": 320,
}
MAX_CLASSES = len(SHAPES) * len(PATTERNS) * len(COLOURS)   # 320
CLASS_TABLE_SEED = 2012      # fixed: the class table never depends on the dataset's seed


def wnid(class_index):
    """The made-up WordNet id of class k: n9 + 7 digits, e.g. wnid(3) == 'n90000003'."""
    return f"n9{class_index:07d}"


def demo_classes(num_classes=MAX_CLASSES):
    """The first ``num_classes`` classes as dicts {wnid, name, shape, pattern, colour}.

    >>> demo_classes(1)[0]["wnid"]
    'n90000000'
    """
    check_int("num_classes", num_classes, 1, MAX_CLASSES)
    table = [(s, p, c) for s in SHAPES for p in PATTERNS for c in COLOURS]
    order = np.random.default_rng(CLASS_TABLE_SEED).permutation(len(table))
    classes = []
    for k in range(num_classes):
        shape, pattern, colour = table[order[k]]
        classes.append({"wnid": wnid(k), "name": f"{colour} {pattern} {shape}",
                        "shape": shape, "pattern": pattern, "colour": colour})
    return classes


# ---------------------------------------------------------------------------------------------
# Drawing one image
# ---------------------------------------------------------------------------------------------

def _hsv(hue_degrees, saturation, value):
    """An RGB colour as a float32 array in 0..255."""
    rgb = colorsys.hsv_to_rgb((hue_degrees % 360) / 360, saturation, value)
    return np.array(rgb, dtype=np.float32) * 255


def _object_colour(rng, family):
    """A saturated colour of the given family: the colours of class objects and distractors."""
    hue = COLOURS[family] + rng.uniform(-8, 8)
    return _hsv(hue, rng.uniform(0.7, 1.0), rng.uniform(0.75, 1.0))


def _any_object_colour(rng):
    return _object_colour(rng, list(COLOURS)[rng.integers(len(COLOURS))])


def _background_colour(rng, avoid_family):
    """A duller colour of any family but ``avoid_family``, or a grey: the object stays visible."""
    if rng.random() < 0.25:
        return np.full(3, rng.uniform(0.15, 0.9) * 255, dtype=np.float32)
    families = [f for f in COLOURS if f != avoid_family]
    hue = COLOURS[families[rng.integers(len(families))]] + rng.uniform(-15, 15)
    return _hsv(hue, rng.uniform(0.15, 0.8), rng.uniform(0.2, 0.9))


def _random_line(draw, rng, size, colour):
    x0, y0, x1, y1 = rng.uniform(0, size, 4)
    width = int(rng.integers(1, max(2, size // 40) + 1))
    draw.line([(x0, y0), (x1, y1)], fill=tuple(int(v) for v in colour), width=width)


def _background(rng, size, avoid_family):
    """Clutter: a two-colour linear gradient, 2-6 blobs and 2-6 lines; a PIL RGB image."""
    c1, c2 = _background_colour(rng, avoid_family), _background_colour(rng, avoid_family)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    t = (xx - 0.5) * np.cos(angle) + (yy - 0.5) * np.sin(angle) + 0.5      # roughly 0..1
    t = np.clip(t, 0, 1)[..., None]
    image = Image.fromarray((c1 * (1 - t) + c2 * t).astype(np.uint8))

    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 7)):                                     # blobs (ellipses)
        cx, cy = rng.uniform(0, size, 2)
        rx, ry = rng.uniform(0.03, 0.10, 2) * size
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry],
                     fill=tuple(int(v) for v in _any_object_colour(rng)))
    for _ in range(rng.integers(2, 7)):                                     # lines
        _random_line(draw, rng, size, _any_object_colour(rng))
    return image


def _unit_polygon(shape):
    """The shape's outline in unit coordinates (inside the unit circle); None for round ones."""
    if shape == "square":
        return [(math.cos(a), math.sin(a)) for a in np.pi / 4 + np.arange(4) * np.pi / 2]
    if shape == "triangle":
        return [(math.cos(a), math.sin(a)) for a in -np.pi / 2 + np.arange(3) * 2 * np.pi / 3]
    if shape == "star":                                   # 5 points, inner radius 0.45
        radii = [1.0, 0.45] * 5
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        return [(radius * math.cos(a), radius * math.sin(a)) for radius, a in zip(radii, angles)]
    if shape == "cross":                                  # arms of half-width 0.3
        w = 0.3
        return [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w),
                (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w)]
    return None


def _shape_mask(shape, cx, cy, r, angle, size, supersample=2):
    """Coverage of the shape, float32 (size, size) in 0..1, antialiased by drawing at 2x."""
    s = supersample
    mask = Image.new("L", (size * s, size * s), 0)
    draw = ImageDraw.Draw(mask)
    cos, sin = math.cos(angle), math.sin(angle)

    def place(points):        # unit coordinates -> rotated, scaled, moved, supersampled pixels
        return [((cx + r * (x * cos - y * sin)) * s, (cy + r * (x * sin + y * cos)) * s)
                for x, y in points]

    def circle(x, y, radius, fill):
        (px, py), = place([(x, y)])
        radius *= s
        draw.ellipse([px - radius, py - radius, px + radius, py + radius], fill=fill)

    if shape == "disc":
        circle(0, 0, r, 255)
    elif shape == "ring":
        circle(0, 0, r, 255)
        circle(0, 0, 0.55 * r, 0)
    elif shape == "crescent":
        circle(0, 0, r, 255)
        circle(0.5, 0, 0.85 * r, 0)
    elif shape == "bars":                                 # three parallel bars
        for y in (-0.7, 0.0, 0.7):
            bar = [(-1, y - 0.2), (1, y - 0.2), (1, y + 0.2), (-1, y + 0.2)]
            draw.polygon(place(bar), fill=255)
    else:
        draw.polygon(place(_unit_polygon(shape)), fill=255)
    mask = mask.resize((size, size), Image.BOX)
    return np.asarray(mask, dtype=np.float32) / 255


def _pattern(pattern, colour, rng, cx, cy, r, size):
    """The fill, float32 (size, size, 3): ``colour`` with a dark shade of it in the pattern."""
    dark = colour * 0.3
    angle = rng.uniform(0, np.pi)                         # its own direction, not the shape's
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    period = max(3.0, r * rng.uniform(0.4, 0.55))         # 3-5 stripes across the object
    u, v = u / period + rng.uniform(0, 1), v / period + rng.uniform(0, 1)   # random phase

    if pattern == "gradient":                             # colour fading to its dark shade
        t = np.clip(u * period / (2 * r) + 0.5, 0, 1)[..., None]
        return colour * (1 - t) + dark * t
    if pattern == "solid":
        on = np.zeros((size, size), dtype=bool)
    elif pattern == "striped":
        on = np.floor(u) % 2 == 1
    elif pattern == "checkered":
        on = (np.floor(u) + np.floor(v)) % 2 == 1
    elif pattern == "dotted":                             # dark dots, radius 0.3 period
        on = (u - np.round(u)) ** 2 + (v - np.round(v)) ** 2 < 0.3 ** 2
    else:
        raise ValueError(f"unknown pattern {pattern!r}; expected one of {PATTERNS}")
    return np.where(on[..., None], dark, colour)


def render_image(demo_class, rng, size):
    """Draw one image of ``demo_class`` (a dict from ``demo_classes``) with generator ``rng``.

    Returns (PIL RGB image of size x size, (x0, y0, x1, y1) box of the object, inclusive).
    """
    background = _background(rng, size, avoid_family=demo_class["colour"])

    r = rng.uniform(0.15, 0.30) * size                    # radius: the object spans 30-60%
    cx, cy = rng.uniform(0.8 * r, size - 0.8 * r, 2)      # mostly inside the frame
    angle = rng.uniform(0, 2 * np.pi)
    mask = _shape_mask(demo_class["shape"], cx, cy, r, angle, size)[..., None]
    fill = _pattern(demo_class["pattern"], _object_colour(rng, demo_class["colour"]),
                    rng, cx, cy, r, size)
    image = Image.fromarray(
        (np.asarray(background, dtype=np.float32) * (1 - mask) + fill * mask).astype(np.uint8))

    if rng.random() < 0.5:                                # a line in front: partial occlusion
        _random_line(ImageDraw.Draw(image), rng, size, _any_object_colour(rng))
    noise = 8 * rng.standard_normal((size, size, 3), dtype=np.float32)   # sensor-like noise
    noisy = np.asarray(image, dtype=np.float32) + noise
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))

    rows, cols = np.nonzero(mask[..., 0] > 0.5)
    box = (int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max()))
    return image, box


def check_int(name, value, low, high=None):
    """A clear ValueError unless ``value`` is an integer in low..high (high None: no limit)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        allowed = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {allowed}, got {value}")
