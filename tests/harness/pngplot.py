"""A small raster canvas that writes PNG files with the Python standard library alone (zlib,
struct): rectangles, lines, dots and text in a built-in 5x7 pixel font. For the benchmark
plots on machines without matplotlib (tests/harness/bench_host_report.py).

    c = Canvas(640, 480)
    c.rect(10, 10, 100, 20, (200, 0, 0))
    c.text(10, 40, "p50 = 1.5x", (0, 0, 0))
    c.save("out.png")

`check_png(data)` validates a file's structure (signature, chunk CRCs, IHDR, the image data's
size), for tests.
"""

import struct
import zlib

BLACK, WHITE, GREY = (0, 0, 0), (255, 255, 255), (150, 150, 150)
SIGNATURE = b"\x89PNG\r\n\x1a\n"

# 5x7 glyphs, rows top to bottom, '#' = ink. Characters not here are drawn as '?'. The
# letters with a descender are drawn DESCEND rows lower (their glyph starts at x-height).
_FONT_SRC = {
    " ": ".....|.....|.....|.....|.....|.....|.....",
    "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
    "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
    "2": ".###.|#...#|....#|...#.|..#..|.#...|#####",
    "3": "####.|....#|....#|.###.|....#|....#|####.",
    "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
    "5": "#####|#....|####.|....#|....#|#...#|.###.",
    "6": "..##.|.#...|#....|####.|#...#|#...#|.###.",
    "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
    "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
    "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
    "a": ".....|.....|.###.|....#|.####|#...#|.####",
    "b": "#....|#....|####.|#...#|#...#|#...#|####.",
    "c": ".....|.....|.###.|#....|#....|#...#|.###.",
    "d": "....#|....#|.####|#...#|#...#|#...#|.####",
    "e": ".....|.....|.###.|#...#|#####|#....|.###.",
    "f": "..##.|.#..#|.#...|###..|.#...|.#...|.#...",
    "g": ".####|#...#|#...#|#...#|.####|....#|.###.",
    "h": "#....|#....|#.##.|##..#|#...#|#...#|#...#",
    "i": "..#..|.....|.##..|..#..|..#..|..#..|.###.",
    "j": "...#.|.....|..##.|...#.|...#.|#..#.|.##..",
    "k": "#....|#....|#..#.|#.#..|##...|#.#..|#..#.",
    "l": ".##..|..#..|..#..|..#..|..#..|..#..|.###.",
    "m": ".....|.....|##.#.|#.#.#|#.#.#|#...#|#...#",
    "n": ".....|.....|#.##.|##..#|#...#|#...#|#...#",
    "o": ".....|.....|.###.|#...#|#...#|#...#|.###.",
    "p": "####.|#...#|#...#|#...#|####.|#....|#....",
    "q": ".####|#...#|#...#|#...#|.####|....#|....#",
    "r": ".....|.....|#.##.|##..#|#....|#....|#....",
    "s": ".....|.....|.###.|#....|.###.|....#|####.",
    "t": ".#...|.#...|###..|.#...|.#...|.#..#|..##.",
    "u": ".....|.....|#...#|#...#|#...#|#..##|.##.#",
    "v": ".....|.....|#...#|#...#|#...#|.#.#.|..#..",
    "w": ".....|.....|#...#|#...#|#.#.#|#.#.#|.#.#.",
    "x": ".....|.....|#...#|.#.#.|..#..|.#.#.|#...#",
    "y": "#...#|#...#|#...#|#...#|.####|....#|.###.",
    "z": ".....|.....|#####|...#.|..#..|.#...|#####",
    "A": ".###.|#...#|#...#|#####|#...#|#...#|#...#",
    "B": "####.|#...#|#...#|####.|#...#|#...#|####.",
    "C": ".###.|#...#|#....|#....|#....|#...#|.###.",
    "D": "####.|#...#|#...#|#...#|#...#|#...#|####.",
    "E": "#####|#....|#....|####.|#....|#....|#####",
    "F": "#####|#....|#....|####.|#....|#....|#....",
    "G": ".###.|#...#|#....|#.###|#...#|#...#|.####",
    "H": "#...#|#...#|#...#|#####|#...#|#...#|#...#",
    "I": ".###.|..#..|..#..|..#..|..#..|..#..|.###.",
    "J": "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
    "K": "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#",
    "L": "#....|#....|#....|#....|#....|#....|#####",
    "M": "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#",
    "N": "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#",
    "O": ".###.|#...#|#...#|#...#|#...#|#...#|.###.",
    "P": "####.|#...#|#...#|####.|#....|#....|#....",
    "Q": ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#",
    "R": "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
    "S": ".####|#....|#....|.###.|....#|....#|####.",
    "T": "#####|..#..|..#..|..#..|..#..|..#..|..#..",
    "U": "#...#|#...#|#...#|#...#|#...#|#...#|.###.",
    "V": "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
    "W": "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.",
    "X": "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
    "Y": "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..",
    "Z": "#####|....#|...#.|..#..|.#...|#....|#####",
    ".": ".....|.....|.....|.....|.....|.##..|.##..",
    ",": ".....|.....|.....|.....|.##..|..#..|.#...",
    ":": ".....|.##..|.##..|.....|.##..|.##..|.....",
    ";": ".....|.##..|.##..|.....|.##..|..#..|.#...",
    "-": ".....|.....|.....|#####|.....|.....|.....",
    "+": ".....|..#..|..#..|#####|..#..|..#..|.....",
    "_": ".....|.....|.....|.....|.....|.....|#####",
    "=": ".....|.....|#####|.....|#####|.....|.....",
    "<": "...#.|..#..|.#...|#....|.#...|..#..|...#.",
    ">": ".#...|..#..|...#.|....#|...#.|..#..|.#...",
    "/": ".....|....#|...#.|..#..|.#...|#....|.....",
    "%": "##...|##..#|...#.|..#..|.#...|#..##|...##",
    "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
    ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
    "[": ".###.|.#...|.#...|.#...|.#...|.#...|.###.",
    "]": ".###.|...#.|...#.|...#.|...#.|...#.|.###.",
    "*": ".....|..#..|#.#.#|.###.|#.#.#|..#..|.....",
    "'": ".##..|..#..|.#...|.....|.....|.....|.....",
    "!": "..#..|..#..|..#..|..#..|..#..|.....|..#..",
    "?": ".###.|#...#|....#|...#.|..#..|.....|..#..",
    "#": ".#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.",
    "|": "..#..|..#..|..#..|..#..|..#..|..#..|..#..",
}
_FONT = {ch: [[c == "#" for c in row] for row in src.split("|")] for ch, src in _FONT_SRC.items()}
DESCENDERS, DESCEND = set("gpqy"), 2
GLYPH_W, GLYPH_H = 6, 10  # advance and line height at scale 1 (5x9 ink plus spacing)


def text_width(s, scale=1):
    return len(s) * GLYPH_W * scale


class Canvas:
    """An RGB image, origin at the top left; coordinates outside it are clipped."""

    def __init__(self, width, height, background=WHITE):
        self.w, self.h = width, height
        self.px = bytearray(bytes(background) * (width * height))

    def put(self, x, y, colour):
        if 0 <= x < self.w and 0 <= y < self.h:
            i = 3 * (y * self.w + x)
            self.px[i:i + 3] = bytes(colour)

    def rect(self, x0, y0, x1, y1, colour):
        """Fill [x0, x1] x [y0, y1] (inclusive, either order)."""
        x0, x1 = sorted((max(0, int(x0)), min(self.w - 1, int(x1))))
        y0, y1 = sorted((max(0, int(y0)), min(self.h - 1, int(y1))))
        row = bytes(colour) * (x1 - x0 + 1)
        for y in range(y0, y1 + 1):
            i = 3 * (y * self.w + x0)
            self.px[i:i + len(row)] = row

    def line(self, x0, y0, x1, y1, colour, dash=0):
        """A straight line (Bresenham); dash > 0 draws dash pixels on, dash off."""
        x0, y0, x1, y1 = int(x0), int(y0), int(x1), int(y1)
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err, n = dx + dy, 0
        while True:
            if not dash or (n // dash) % 2 == 0:
                self.put(x0, y0, colour)
            if x0 == x1 and y0 == y1:
                return
            n += 1
            e2 = 2 * err
            if e2 >= dy:
                err, x0 = err + dy, x0 + sx
            if e2 <= dx:
                err, y0 = err + dx, y0 + sy

    def dot(self, x, y, r, colour):
        x, y = int(x), int(y)
        for j in range(-r, r + 1):
            for i in range(-r, r + 1):
                if i * i + j * j <= r * r + r:
                    self.put(x + i, y + j, colour)

    def text(self, x, y, s, colour=BLACK, scale=1):
        """Draw s with its top left corner at (x, y)."""
        for k, ch in enumerate(s):
            glyph = _FONT.get(ch) or _FONT["?"]
            top = y + (DESCEND * scale if ch in DESCENDERS else 0)
            for r, row in enumerate(glyph):
                for c, ink in enumerate(row):
                    if ink:
                        self.rect(x + (k * GLYPH_W + c) * scale, top + r * scale,
                                  x + (k * GLYPH_W + c + 1) * scale - 1,
                                  top + (r + 1) * scale - 1, colour)

    def png(self):
        """The image as PNG bytes (8-bit RGB, no filtering)."""
        stride = 3 * self.w
        raw = b"".join(b"\x00" + bytes(self.px[y * stride:(y + 1) * stride])
                       for y in range(self.h))
        ihdr = struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)
        return (SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 9)) +
                _chunk(b"IEND", b""))

    def save(self, path):
        with open(path, "wb") as f:
            f.write(self.png())


def _chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def check_png(data):
    """What is wrong with PNG bytes `data`, as a list of sentences (empty: a well-formed PNG
    whose image data inflates to exactly its rows; 8-bit RGB/RGBA/grey images only)."""
    if not data.startswith(SIGNATURE):
        return ["no PNG signature"]
    p, pos, kinds, idat, ihdr = [], len(SIGNATURE), [], b"", None
    while pos + 12 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n] or b"\0\0\0\0")
        if len(body) != n or zlib.crc32(kind + body) & 0xffffffff != crc:
            return p + ["chunk %r at %d: truncated or bad CRC" % (kind, pos)]
        kinds.append(kind)
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    if not kinds or kinds[0] != b"IHDR" or kinds[-1] != b"IEND" or pos != len(data):
        return p + ["chunks %s: not IHDR ... IEND filling the file" % kinds]
    w, h, depth, ctype = ihdr[:4]
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if not (w and h and depth == 8 and channels):
        return p + ["IHDR %s: not a non-empty 8-bit image this check knows" % (ihdr,)]
    try:
        size = len(zlib.decompress(idat))
    except zlib.error as e:
        return p + ["IDAT does not inflate: %s" % e]
    if size != h * (1 + w * channels):
        p.append("IDAT inflates to %d bytes, %d x %d needs %d" % (size, w, h,
                                                                  h * (1 + w * channels)))
    return p
