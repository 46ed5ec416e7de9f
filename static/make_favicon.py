"""Draws static/favicon.png, the app's browser-tab icon: shipped with the app, so no page load asks a
font CDN for one (`python static/make_favicon.py` redraws it)."""
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 64
OUT = Path(__file__).with_name("favicon.png")


def favicon() -> Image.Image:
    """A 4x4 grid of dots, largest in the middle: a latent grid blurring outward, after Material's blur_on."""
    im = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    draw.rounded_rectangle((0, 0, SIZE - 1, SIZE - 1), radius=12, fill=(38, 39, 48, 255))
    pitch = SIZE / 4
    for row in range(4):
        for col in range(4):
            centre = (col + 0.5) * pitch, (row + 0.5) * pitch
            inner = max(abs(row - 1.5), abs(col - 1.5)) < 1  # the middle four
            r = 6.5 if inner else 3.5
            colour = (255, 75, 75, 255) if inner else (250, 250, 250, 255)
            draw.ellipse((centre[0] - r, centre[1] - r, centre[0] + r, centre[1] + r), fill=colour)
    return im


if __name__ == "__main__":
    favicon().save(OUT, optimize=True)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
