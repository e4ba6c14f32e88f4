"""The five toys of the built-in data set and the clutter around them, each drawn into a ``toy_scene.Sprite``.

One drawing function per toy class (``draw_bananagrams`` ... ``draw_magnatiles``, looked up in ``DRAW``) returns the
sprites of one photo's toy with their offsets and angles; ``toy_scene.place`` puts them into the photo. Drawn from a
``numpy.random.Generator`` only, so one seed always gives the same pixels.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from toyrobot_utils.synthetic.toy_scene import Region, Sprite, smooth_noise, vary

# Saturated plastic colours shared by duplos, magnatiles and car paint: the shared palette is one of the traps
# (the write-up: "solid colors, like magnatiles and Brio cars").
PLASTIC = {
    "red": (205, 30, 35), "blue": (25, 85, 200), "yellow": (250, 200, 25), "green": (35, 150, 65),
    "orange": (245, 120, 20), "lime": (140, 200, 40), "sky": (70, 170, 230), "pink": (235, 100, 160),
    "purple": (120, 60, 170), "teal": (20, 150, 150),
}


# ------------------------------------------------------------------------------------------------------ toys
def _rounded_rect(x0, y0, x1, y1, r, n=6):
    """Polygon points of a rectangle with rounded corners."""
    r = min(r, (x1 - x0) / 2, (y1 - y0) / 2)
    pts = []
    for cx, cy, a0 in ((x1 - r, y0 + r, -90), (x1 - r, y1 - r, 0), (x0 + r, y1 - r, 90), (x0 + r, y0 + r, 180)):
        for t in np.linspace(a0, a0 + 90, n):
            pts.append((cx + r * math.cos(math.radians(t)), cy + r * math.sin(math.radians(t))))
    return np.asarray(pts)


def bananagram_tile(rng, identity, side: float) -> Sprite:
    """One cream tile with a dark capital letter, seen from above with its thickness showing at the bottom."""
    pad = int(side * 0.15) + 2
    depth = side * rng.uniform(0.1, 0.2)
    s = Sprite(int(side + depth + 2 * pad), int(side + 2 * pad))
    cream = vary(rng, identity["cream"], 4)
    x0, y0 = pad, pad
    s.paint(s.poly(_rounded_rect(x0, y0 + depth, x0 + side, y0 + side + depth, side * 0.12)), cream * 0.72)
    top = s.poly(_rounded_rect(x0, y0, x0 + side, y0 + side, side * 0.12))
    tex = cream * (1 + 0.03 * smooth_noise(rng, s.h, s.w, 3, 3))[..., None]
    s.paint(top, tex)
    s.shade(s.line(_rounded_rect(x0 + 1, y0 + 1, x0 + side - 1, y0 + side - 1, side * 0.1), max(1, side * 0.04)), 1.06)
    letter = identity["letters"][rng.integers(len(identity["letters"]))]
    font = cv2.FONT_HERSHEY_DUPLEX if identity["font"] == 0 else cv2.FONT_HERSHEY_SIMPLEX
    thick = max(1, int(round(side * identity["weight"])))
    scale = cv2.getFontScaleFromHeight(font, int(side * 0.58), thick)
    (tw, th), _ = cv2.getTextSize(letter, font, scale, thick)
    m = np.zeros((s.h, s.w), np.uint8)
    org = (int(x0 + (side - tw) / 2), int(y0 + (side + th) / 2))
    cv2.putText(m, letter, org, font, scale, 255, thick, cv2.LINE_AA)
    s.paint(Region(m.astype(np.float32) / 255), identity["ink"])
    return s


def draw_bananagrams(rng, identity, size: float, knobs) -> list:
    """A few tiles, as a word in a row or loosely scattered; ``size`` is the group's width in pixels."""
    n = int(rng.choice([1, 1, 2, 2, 3, 3, 4, 5]))
    side = size / max(1.6, n * 1.05) if rng.random() < 0.5 else size / 2.2
    side = max(side, 10)
    parts = []
    row = rng.random() < 0.6
    for i in range(n):
        if row:
            dx, dy = (i - (n - 1) / 2) * side * rng.uniform(1.02, 1.25), rng.normal(0, side * 0.05)
            ang = rng.normal(0, 5)
        else:
            dx, dy = rng.normal(0, side * 0.9), rng.normal(0, side * 0.9)
            ang = rng.uniform(-45, 45)
        parts.append((bananagram_tile(rng, identity, side * rng.uniform(0.97, 1.03)), dx, dy, ang))
    return parts


def _grain(rng, h, w, base):
    """Wood texture for a sprite: streaks along x plus fine fibre."""
    g = smooth_noise(rng, h, w, 2, 30)
    return base * (1 + 0.07 * g + 0.03 * smooth_noise(rng, h, w, 1, 1))[..., None]


def _peg(cx, cy, w, direction):
    """Outline of a Brio peg (neck + round head) sticking out of an end, direction in radians."""
    ux, uy = math.cos(direction), math.sin(direction)
    vx, vy = -uy, ux
    neck, head = 0.09 * w, 0.17 * w
    length = 0.28 * w
    hx, hy = cx + ux * (length + head * 0.6), cy + uy * (length + head * 0.6)
    neck_pts = [(cx + vx * neck - ux, cy + vy * neck - uy), (cx - vx * neck - ux, cy - vy * neck - uy),
                (hx - vx * neck, hy - vy * neck), (hx + vx * neck, hy + vy * neck)]
    return np.asarray(neck_pts), (hx, hy, head)


def brio_track(rng, identity, width: float, curved: bool) -> Sprite:
    """A pale wooden track piece: two grooves along it, a peg at one end and a matching hole at the other."""
    wood = vary(rng, identity["wood"], 4)
    w = width
    groove_off, groove_w = 0.23 * w, 0.13 * w
    if not curved:
        length = w * identity["length"] * rng.uniform(0.95, 1.05)
        pad = int(0.6 * w) + 2
        s = Sprite(int(w + 2 * pad), int(length + 2 * pad))
        x0, x1, yc = pad, pad + length, pad + w / 2
        body = s.poly([(x0, yc - w / 2), (x1, yc - w / 2), (x1, yc + w / 2), (x0, yc + w / 2)])
        s.paint(body, _grain(rng, s.h, s.w, wood))
        neck, (hx, hy, r) = _peg(x1, yc, w, 0.0)
        s.paint(s.poly(neck), _grain(rng, s.h, s.w, wood))
        s.paint(s.circle(hx, hy, r), _grain(rng, s.h, s.w, wood))
        hole_neck, (qx, qy, qr) = _peg(x0 - 1, yc, w, 0.0)
        s.erase(s.poly(hole_neck) + s.circle(qx, qy, qr * 1.12))
        for sign in (-1, 1):
            y = yc + sign * groove_off
            s.shade(s.poly([(x0, y - groove_w / 2), (x1, y - groove_w / 2), (x1, y + groove_w / 2),
                            (x0, y + groove_w / 2)]), identity["groove"])
            s.shade(s.line([(x0, y - groove_w / 2), (x1, y - groove_w / 2)], max(1, w * 0.025)), 0.8)
            s.shade(s.line([(x0, y + groove_w / 2), (x1, y + groove_w / 2)], max(1, w * 0.025)), 1.12)
        s.shade(s.line([(x0, yc + w / 2 - 1), (x1, yc + w / 2 - 1)], max(1, w * 0.06)), 0.78)  # side edge
        s.shade(s.line([(x0, yc - w / 2 + 1), (x1, yc - w / 2 + 1)], max(1, w * 0.04)), 1.08)
        return s
    radius = w * identity["radius"]
    span = math.radians(identity["span"])
    r_out, r_in = radius + w / 2, radius - w / 2
    pad = 0.7 * w + 2
    cx, cy = pad, pad + r_out  # arc centre; the piece starts at the top (-90 deg) and bends clockwise
    s = Sprite(int(cy - r_in * math.cos(span) + pad), int(cx + r_out * math.sin(span) + pad))
    angles = np.linspace(-math.pi / 2, -math.pi / 2 + span, 40)

    def arc(r):
        return np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1)

    outer, inner = arc(radius + w / 2), arc(radius - w / 2)
    s.paint(s.poly(np.vstack([outer, inner[::-1]])), _grain(rng, s.h, s.w, wood))
    # peg at the start (pointing against the arc direction), hole at the far end
    a0 = angles[0]
    px, py = cx + radius * math.cos(a0), cy + radius * math.sin(a0)
    neck, (hx, hy, r) = _peg(px, py, w, math.pi)
    s.paint(s.poly(neck), _grain(rng, s.h, s.w, wood))
    s.paint(s.circle(hx, hy, r), _grain(rng, s.h, s.w, wood))
    a1 = angles[-1]
    ex, ey = cx + (radius) * math.cos(a1), cy + radius * math.sin(a1)
    hole_neck, (qx, qy, qr) = _peg(ex - math.sin(a1), ey + math.cos(a1), w, a1 - math.pi / 2)
    s.erase(s.poly(hole_neck) + s.circle(qx, qy, qr * 1.12))
    for sign in (-1, 1):
        rr = radius + sign * groove_off
        s.shade(s.line(arc(rr), groove_w), identity["groove"])
        s.shade(s.line(arc(rr - groove_w / 2), max(1, w * 0.025)), 0.8)
        s.shade(s.line(arc(rr + groove_w / 2), max(1, w * 0.025)), 1.12)
    s.shade(s.line(arc(radius + w / 2 - 1), max(1, w * 0.06)), 0.8)
    return s


def brio_train(rng, size: float) -> Sprite:
    """A small wooden engine with wheels: the write-up's Brio-vs-cars trap (only when the knob asks for it)."""
    L = size
    s = Sprite(int(L * 0.8), int(L * 1.3))
    ox, oy = L * 0.15, L * 0.15
    col = vary(rng, PLASTIC[rng.choice(["red", "blue", "green", "yellow"])], 10)
    s.paint(s.poly(_rounded_rect(ox, oy + L * 0.12, ox + L, oy + L * 0.42, L * 0.05)), col)
    s.paint(s.poly(_rounded_rect(ox + L * 0.6, oy, ox + L * 0.95, oy + L * 0.3, L * 0.04)), col * 0.85)
    s.paint(s.circle(ox + L * 0.2, oy + L * 0.08, L * 0.08), (40, 40, 40))
    for x in (0.2, 0.5, 0.8):
        s.paint(s.circle(ox + L * x, oy + L * 0.45, L * 0.12), (30, 30, 30))
        s.paint(s.circle(ox + L * x, oy + L * 0.45, L * 0.05), (200, 170, 120))
    return s


def draw_brios(rng, identity, size: float, knobs) -> list:
    """One to three track pieces (straight or curved), sometimes joined, with an optional wooden train."""
    width = size * identity["width_frac"]
    parts = []
    n = int(rng.choice([1, 1, 2, 2, 3]))
    angle = rng.uniform(0, 360)
    for i in range(n):
        curved = rng.random() < identity["curved_share"]
        piece = brio_track(rng, identity, width, curved)
        off = (i - (n - 1) / 2) * width * rng.uniform(1.2, 2.2)  # side by side, across the pieces' length
        a = math.radians(angle)
        parts.append((piece, off * math.sin(a) + rng.normal(0, width * 0.3),
                      off * math.cos(a) + rng.normal(0, width * 0.3), angle + rng.normal(0, 12)))
    if rng.random() < knobs.brio_train:
        parts.append((brio_train(rng, width * 2.2), rng.normal(0, width * 0.5), rng.normal(0, width * 0.5),
                      angle + rng.normal(0, 10)))
    return parts


CAR_SHAPES = {
    # side profile as (x, y) in units of the car length; y grows downward, wheels sit on y ~ 0.42
    "sedan": [(0.0, 0.30), (0.03, 0.21), (0.25, 0.17), (0.36, 0.05), (0.66, 0.05), (0.80, 0.17), (0.98, 0.20),
              (1.0, 0.32), (0.97, 0.38), (0.03, 0.38)],
    "hatch": [(0.0, 0.29), (0.04, 0.19), (0.28, 0.15), (0.40, 0.03), (0.86, 0.04), (0.97, 0.17), (1.0, 0.33),
              (0.97, 0.38), (0.03, 0.38)],
    "sports": [(0.0, 0.30), (0.05, 0.23), (0.33, 0.18), (0.45, 0.09), (0.66, 0.09), (0.88, 0.19), (1.0, 0.22),
               (1.0, 0.32), (0.96, 0.37), (0.03, 0.37)],
    "suv": [(0.0, 0.28), (0.02, 0.14), (0.22, 0.12), (0.30, 0.0), (0.93, 0.0), (0.99, 0.10), (1.0, 0.34),
            (0.97, 0.40), (0.03, 0.40)],
    "pickup": [(0.0, 0.27), (0.02, 0.15), (0.24, 0.13), (0.30, 0.0), (0.55, 0.0), (0.57, 0.14), (1.0, 0.14),
               (1.0, 0.36), (0.97, 0.40), (0.03, 0.40)],
    "van": [(0.0, 0.30), (0.02, 0.10), (0.10, 0.0), (0.98, 0.0), (1.0, 0.05), (1.0, 0.36), (0.97, 0.40),
            (0.03, 0.40)],
}
CAR_WINDOWS = {
    "sedan": [(0.27, 0.165), (0.37, 0.07), (0.64, 0.07), (0.76, 0.165)],
    "hatch": [(0.30, 0.15), (0.41, 0.05), (0.84, 0.06), (0.92, 0.155)],
    "sports": [(0.35, 0.18), (0.46, 0.11), (0.65, 0.11), (0.83, 0.185)],
    "suv": [(0.24, 0.12), (0.31, 0.03), (0.90, 0.03), (0.92, 0.12)],
    "pickup": [(0.26, 0.13), (0.31, 0.03), (0.53, 0.03), (0.54, 0.13)],
    "van": [(0.05, 0.12), (0.12, 0.03), (0.45, 0.03), (0.45, 0.13)],
}


def car_sprite(rng, identity, length: float, view: str) -> Sprite:
    """A die-cast car in side view, or three-quarter view (squashed side plus the front face and far wheels)."""
    kind = identity["shape"]
    L = length
    sq = 1.0 if view == "side" else rng.uniform(0.65, 0.8)  # side foreshortening in three-quarter view
    front_w = 0.0 if view == "side" else L * rng.uniform(0.22, 0.3)
    hscale = identity["height"]
    pad = L * 0.08
    s = Sprite(int(L * 0.5 * hscale + 2 * pad + L * 0.1), int(L * sq + front_w + 2 * pad))
    ox, oy = pad + front_w, pad + L * 0.06

    def P(pts):
        return np.asarray([(ox + x * L * sq, oy + y * L * hscale) for x, y in pts])

    paint = vary(rng, identity["color"], 6)
    wheel_r = identity["wheel"] * L
    wy = oy + 0.385 * L * hscale
    wheels = [ox + 0.2 * L * sq, ox + 0.8 * L * sq]
    if view != "side":  # the far-side wheels peek out, shifted towards the front face
        for wx in wheels:
            s.paint(s.ellipse(wx - front_w * 0.8, wy - L * 0.04, wheel_r * 0.75 * sq, wheel_r * 0.9), (20, 20, 22))
        # front face: a trapezoid with grille and two headlights
        fy0, fy1 = oy + 0.17 * L * hscale, oy + 0.38 * L * hscale
        face = np.asarray([(ox, fy0), (ox - front_w, fy0 - L * 0.05), (ox - front_w, fy1 - L * 0.05), (ox, fy1)])
        s.paint(s.poly(face), paint * 0.78)
        s.paint(s.poly([(ox, fy0), (ox - front_w, fy0 - L * 0.05), (ox - front_w * 0.8, fy0 - L * 0.09),
                        (ox + 0.25 * L * sq, oy + 0.12 * L * hscale)]), paint * 1.1)
        for t in (0.2, 0.8):
            s.paint(s.circle(ox - front_w * t, fy0 - L * 0.05 * t + L * 0.04, L * 0.025), (250, 245, 210))
        s.paint(s.poly([(ox - front_w * 0.35, fy1 - L * 0.06), (ox - front_w * 0.65, fy1 - L * 0.07),
                        (ox - front_w * 0.65, fy1 - L * 0.035), (ox - front_w * 0.35, fy1 - L * 0.025)]), (40, 40, 45))
    body = s.poly(P(CAR_SHAPES[kind]))
    yy = np.arange(s.h, dtype=np.float32)[:, None, None]
    grad = paint * (1.25 - 0.5 * (yy - oy) / (0.45 * L * hscale)).clip(0.7, 1.3)
    s.paint(body, np.clip(grad, 0, 255) * np.ones((1, s.w, 1), np.float32))
    s.paint(s.poly(P(CAR_WINDOWS[kind])), identity["glass"])
    s.shade(s.line(P([(0.30, 0.06), (0.45, 0.16)]), max(1, L * 0.02)), 1.5)  # glint on the glass
    s.paint(s.line(P([(0.5, 0.05), (0.5, 0.17)]), max(1, L * 0.015)), paint * 0.6)  # pillar
    if identity["stripe"]:
        s.paint(s.line(P([(0.05, 0.28), (0.95, 0.28)]), max(1, L * 0.025)), identity["stripe_color"])
    s.shade(s.line(P([(0.42, 0.19), (0.44, 0.36)]), max(1, L * 0.008)), 0.6)  # door gap
    s.paint(s.circle(*P([(0.985, 0.25)])[0], L * 0.02), (220, 30, 30))  # tail light
    if view == "side":
        s.paint(s.circle(*P([(0.015, 0.245)])[0], L * 0.022), (250, 245, 200))  # head light
    for wx in wheels:
        s.paint(s.circle(wx, wy, wheel_r * 1.12), (25, 25, 28))  # arch
        s.paint(s.ellipse(wx, wy, wheel_r * sq ** 0.3, wheel_r), (18, 18, 20))
        s.paint(s.ellipse(wx, wy, wheel_r * 0.55 * sq ** 0.3, wheel_r * 0.55), identity["hub"])
        s.paint(s.circle(wx, wy, wheel_r * 0.15), (60, 60, 60))
    return s


def draw_cars(rng, identity, size: float, knobs) -> list:
    """One die-cast car (sometimes two), side or three-quarter view, mostly upright."""
    view = "side" if rng.random() < 0.55 else "three_quarter"
    parts = [(car_sprite(rng, identity, size, view), 0.0, 0.0, rng.normal(0, 12) + (180 if rng.random() < 0.04 else 0))]
    if rng.random() < 0.15:
        parts[0] = (parts[0][0], -size * 0.35, -size * 0.15, parts[0][3])
        other = dict(identity, color=PLASTIC[rng.choice(list(PLASTIC))], shape=rng.choice(list(CAR_SHAPES)))
        parts.append((car_sprite(rng, other, size * 0.9, "side"), size * 0.4, size * 0.25, rng.normal(0, 15)))
    if rng.random() < 0.5:  # facing the other way
        for sp, _, _, _ in parts:
            sp.rgb, sp.alpha, sp.tint, sp.cover = (x[:, ::-1].copy() for x in (sp.rgb, sp.alpha, sp.tint, sp.cover))
    return parts


def duplo_brick(rng, color, pitch: float, studs: int, view: str) -> Sprite:
    """A chunky brick with round studs: front-top view (front, side and top faces) or straight from above."""
    col = np.asarray(color, np.float32)
    n, rows = studs, 2
    length = n * pitch
    pad = pitch * 0.4
    if view == "top":
        depth = rows * pitch
        s = Sprite(int(depth + 2 * pad), int(length + 2 * pad))
        s.paint(s.poly(_rounded_rect(pad, pad, pad + length, pad + depth, pitch * 0.08)), col)
        s.shade(s.line(_rounded_rect(pad, pad, pad + length, pad + depth, pitch * 0.08), max(1, pitch * 0.06)), 0.8)
        for i in range(n):
            for j in range(rows):
                cx, cy = pad + (i + 0.5) * pitch, pad + (j + 0.5) * pitch
                s.paint(s.circle(cx + pitch * 0.05, cy + pitch * 0.06, pitch * 0.33), col * 0.7)
                s.paint(s.circle(cx, cy, pitch * 0.31), np.minimum(col * 1.12 + 10, 255))
                s.shade(s.circle(cx - pitch * 0.1, cy - pitch * 0.1, pitch * 0.08), 1.35)
        return s
    fore = rng.uniform(0.35, 0.55)  # how much of the top face the camera sees
    top_d = rows * pitch * fore
    side_w = pitch * rng.uniform(0.25, 0.5)
    front_h = pitch * 1.2
    stud_h = pitch * 0.28
    s = Sprite(int(top_d + front_h + stud_h + 2 * pad), int(length + side_w + 2 * pad))
    x0, y0 = pad, pad + stud_h + top_d
    s.paint(s.poly([(x0, y0), (x0 + length, y0), (x0 + length, y0 + front_h), (x0, y0 + front_h)]), col)
    s.paint(s.poly([(x0 + length, y0), (x0 + length + side_w, y0 - top_d), (x0 + length + side_w, y0 - top_d + front_h),
                    (x0 + length, y0 + front_h)]), col * 0.7)
    s.paint(s.poly([(x0, y0), (x0 + side_w, y0 - top_d), (x0 + length + side_w, y0 - top_d), (x0 + length, y0)]),
            np.minimum(col * 1.15 + 12, 255))
    s.shade(s.line([(x0, y0), (x0 + length, y0)], max(1, pitch * 0.04)), 1.2)
    s.shade(s.poly([(x0, y0 + front_h * 0.15), (x0 + length * 0.12, y0 + front_h * 0.15),
                    (x0 + length * 0.12, y0 + front_h * 0.85), (x0, y0 + front_h * 0.85)]), 1.12)  # glossy band
    for j in range(rows - 1, -1, -1):  # back row first
        for i in range(n):
            t = (j + 0.5) / rows
            cx = x0 + (i + 0.5) * pitch + side_w * t
            cy = y0 - top_d * t
            rx, ry = pitch * 0.32, pitch * 0.32 * fore
            s.paint(s.poly([(cx - rx, cy), (cx + rx, cy), (cx + rx, cy - stud_h), (cx - rx, cy - stud_h)]), col * 0.85)
            s.paint(s.ellipse(cx, cy, rx, ry), col * 0.85)
            s.paint(s.ellipse(cx, cy - stud_h, rx, ry), np.minimum(col * 1.2 + 15, 255))
            s.shade(s.ellipse(cx - rx * 0.3, cy - stud_h - ry * 0.2, rx * 0.3, ry * 0.3), 1.3)
    return s


def draw_duplos(rng, identity, size: float, knobs) -> list:
    """A single brick, a stack of two to four, or two bricks side by side."""
    colors = identity["colors"]
    view = "top" if rng.random() < knobs.duplo_top_view else "front"
    layout = rng.choice(["single", "stack", "stack", "pair"])
    pitch = size / 4.6
    parts = []
    if layout == "single" or view == "top":
        studs = int(rng.choice([2, 4, 4]))
        pitch = size / (studs + 0.6)
        parts.append((duplo_brick(rng, colors[rng.integers(len(colors))], pitch, studs, view), 0, 0, rng.normal(0, 20)))
        if view == "top" and rng.random() < 0.4:
            parts.append((duplo_brick(rng, colors[rng.integers(len(colors))], pitch, 2, view),
                          rng.normal(0, pitch * 2), pitch * rng.choice([-2.2, 2.2]), rng.uniform(-30, 30)))
        return parts
    if layout == "pair":
        for k in (-1, 1):
            b = duplo_brick(rng, colors[rng.integers(len(colors))], pitch * 0.9, int(rng.choice([2, 4])), view)
            parts.append((b, k * size * 0.3, rng.normal(0, pitch * 0.3), rng.normal(0, 15)))
        return parts
    height = int(rng.integers(2, 5))
    pitch = size / max(4.6, height * 1.9)
    angle = rng.normal(0, 8)
    base = int(rng.choice([2, 4]))
    for level in range(height):  # bottom first, each upper brick covers the studs below it
        studs = int(rng.choice([2, 4])) if level else base
        shift = rng.choice([-1, 0, 0, 1]) * pitch
        b = duplo_brick(rng, colors[rng.integers(len(colors))], pitch, studs, view)
        dy = (height / 2 - level) * pitch * 1.2
        parts.append((b, shift + rng.normal(0, pitch * 0.05), dy, angle))
    return parts


def magnatile(rng, color, side: float, shape: str, opacity: float) -> Sprite:
    """A translucent tile with a lighter rim, magnets along the edges and rivets near the corners."""
    col = np.asarray(color, np.float32)
    pad = side * 0.06 + 2
    if shape == "square":
        corners = np.asarray([(0, 0), (side, 0), (side, side), (0, side)]) + pad
        hh = side
    else:
        hh = side * math.sqrt(3) / 2
        corners = np.asarray([(side / 2, 0), (side, hh), (0, hh)]) + pad
    s = Sprite(int(hh + 2 * pad), int(side + 2 * pad))
    centre = corners.mean(0)
    inner = centre + (corners - centre) * (0.84 if shape == "square" else 0.74)
    full = s.poly(corners)
    rim = full - s.poly(inner)
    light = np.minimum(col * 0.6 + 110, 255)
    s.paint(full, col, opacity=opacity * 0.6, filter_color=np.minimum(col * 0.9 + 25, 255))
    s.paint(rim, light, opacity=min(1.0, opacity + 0.35))
    # embossed pattern inside (real tiles have a raised diamond/circle texture)
    mid = centre + (corners - centre) * 0.5
    s.shade(s.line(np.vstack([mid, mid[:1]]), max(1, side * 0.02)), 1.18)
    s.shade(s.circle(*centre, side * 0.12), 1.1)
    for a, b in zip(corners, np.roll(corners, -1, 0)):  # magnets along each edge, just inside the rim
        for t in (0.3, 0.7):
            p = a + (b - a) * t
            p = p + (centre - p) * 0.13
            s.paint(s.circle(p[0], p[1], side * 0.035), (85, 85, 90), opacity=0.8)
    for c in corners:  # rivets
        p = c + (centre - c) * 0.1
        s.paint(s.circle(p[0], p[1], side * 0.022), (215, 215, 220))
        s.shade(s.circle(p[0] + side * 0.006, p[1] + side * 0.006, side * 0.008), 0.6)
    s.shade(s.line(np.vstack([corners, corners[:1]]), max(1, side * 0.012)), 0.75)
    return s


def draw_magnatiles(rng, identity, size: float, knobs) -> list:
    """One to four tiles, squares and triangles, often overlapping or laid edge to edge."""
    n = int(rng.choice([1, 2, 2, 3, 3, 4]))
    side = size / (1.0 if n == 1 else rng.uniform(1.4, 1.9))
    parts = []
    angle = rng.uniform(0, 360)
    for i in range(n):
        shape = "square" if rng.random() < identity["square_share"] else "triangle"
        color = identity["colors"][rng.integers(len(identity["colors"]))]
        tile = magnatile(rng, color, side * rng.uniform(0.97, 1.03), shape, knobs.magnatile_opacity)
        dx, dy = (rng.normal(0, side * 0.45), rng.normal(0, side * 0.45)) if i else (0.0, 0.0)
        parts.append((tile, dx, dy, angle + (rng.choice([0, 90, 45, 30]) if i else 0) + rng.normal(0, 6)))
    return parts


DRAW = {
    "bananagrams": draw_bananagrams, "brios": draw_brios, "cars": draw_cars, "duplos": draw_duplos,
    "magnatiles": draw_magnatiles,
}


# ---------------------------------------------------------------------------------------------------- clutter
def clutter_sprite(rng, size: float) -> Sprite:
    """A non-toy object from the floor: sock, pencil, paper, cable, crumbs, coin or cup."""
    kind = rng.choice(["sock", "pencil", "paper", "cable", "crumbs", "coin", "cup"])
    if kind == "pencil":
        L = size * rng.uniform(0.8, 1.4)
        s = Sprite(int(L * 0.12) + 6, int(L) + 6)
        body = vary(rng, rng.choice([(240, 200, 40), (30, 90, 170), (200, 40, 40), (60, 140, 60)]), 10)
        s.paint(s.poly([(3, 3), (L * 0.85, 3), (L * 0.85, L * 0.1 + 3), (3, L * 0.1 + 3)]), body)
        s.paint(s.poly([(L * 0.85, 3), (L + 2, L * 0.05 + 3), (L * 0.85, L * 0.1 + 3)]), (225, 190, 150))
        s.paint(s.circle(L + 1, L * 0.05 + 3, L * 0.015), (50, 50, 50))
        return s
    if kind == "paper":
        w, h = size * rng.uniform(0.8, 1.5), size * rng.uniform(0.6, 1.1)
        s = Sprite(int(h) + 6, int(w) + 6)
        s.paint(s.poly([(3, 3), (w, 3 + rng.uniform(0, 5)), (w + 2, h), (3, h + 2)]), vary(rng, (242, 240, 232), 6))
        for k in range(int(rng.integers(0, 6))):
            y = 3 + h * (k + 1) / 7
            s.paint(s.line([(w * 0.1, y), (w * rng.uniform(0.5, 0.9), y)], 1), (90, 90, 140))
        return s
    if kind == "cable":
        s = Sprite(int(size) + 8, int(size * 1.5) + 8)
        xs = np.linspace(4, size * 1.5 + 4, 30)
        ys = size / 2 + 4 + np.cumsum(rng.normal(0, size * 0.05, 30))
        s.paint(s.line(np.stack([xs, np.clip(ys, 4, size + 4)], 1), max(2, size * 0.04)), vary(rng, (35, 35, 35), 15))
        return s
    if kind == "crumbs":
        s = Sprite(int(size) + 4, int(size) + 4)
        for _ in range(int(rng.integers(4, 15))):
            speck = s.circle(rng.uniform(2, size), rng.uniform(2, size), rng.uniform(1, 3))
            s.paint(speck, vary(rng, (190, 150, 90), 25))
        return s
    if kind == "coin":
        r = size * rng.uniform(0.12, 0.2)
        s = Sprite(int(2 * r) + 6, int(2 * r) + 6)
        c = vary(rng, (185, 150, 80) if rng.random() < 0.5 else (190, 190, 195), 10)
        s.paint(s.circle(r + 3, r + 3, r), c)
        s.shade(s.circle(r + 3, r + 3, r * 0.8), 1.1)
        return s
    if kind == "cup":
        r = size * rng.uniform(0.35, 0.5)
        s = Sprite(int(2 * r) + 6, int(2.5 * r) + 6)
        c = vary(rng, rng.choice([(240, 240, 235), (60, 100, 160), (180, 60, 60)]), 10)
        s.paint(s.circle(r + 3, r + 3, r), c)
        s.paint(s.circle(r + 3, r + 3, r * 0.82), c * 0.6)
        s.paint(s.poly([(2 * r, r * 0.8), (2.5 * r, r * 0.8), (2.5 * r, r * 1.4), (2 * r, r * 1.4)]), c)
        return s
    w, h = size * rng.uniform(0.7, 1.2), size * rng.uniform(0.3, 0.45)  # sock
    s = Sprite(int(h * 1.8) + 6, int(w) + 6)
    c = vary(rng, rng.choice([(230, 230, 230), (60, 60, 70), (200, 120, 150), (120, 160, 200)]), 15)
    s.paint(s.poly(_rounded_rect(3, 3, w, h + 3, h * 0.45)), c)
    s.paint(s.ellipse(w - h * 0.4, h * 1.1, h * 0.45, h * 0.7), c)
    s.shade(s.line([(w * 0.2, 3), (w * 0.2, h + 3)], max(1, h * 0.12)), 0.85)
    s.rgb *= (1 + 0.08 * smooth_noise(rng, s.h, s.w, 1.5, 1.5))[..., None]
    return s
