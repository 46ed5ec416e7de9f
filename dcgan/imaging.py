"""Images out: tensors to uint8, grids, nearest-neighbour upscaling, PNG and animated GIF bytes."""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image


# what a file's suffix promises: every format a command here can write, by the suffixes that name it
OUTPUT_FORMATS = {"PNG": (".png",), "GIF": (".gif",), "JSON": (".json",), "NPY": (".npy",)}


def output_format(path: str | Path, formats: tuple[str, ...], flag: str = "--out") -> str:
    """Which of formats (OUTPUT_FORMATS' names) a file named path must hold; ValueError, naming the
    formats that can be written, when its suffix promises another or none: a file is what its name says,
    so an animation asked for as .mp4 is refused rather than written as a GIF under that name."""
    suffix = Path(path).suffix.lower()
    for name in formats:
        if suffix in OUTPUT_FORMATS[name]:
            return name
    can = " or ".join(f"{name} ({', '.join(OUTPUT_FORMATS[name])})" for name in formats)
    named = f"a {suffix} file" if suffix else "a file with no suffix"
    raise ValueError(f"{flag} {path}: this command writes {can} only, not {named}")


def to_uint8_nchw(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] -> uint8 (N, C, H, W) on the CPU, the layout datasets are held in."""
    return ((x.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def as_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [-1, 1] images as float [-1, 1]: to_uint8_nchw's inverse."""
    return images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> uint8 (N, H, W, C), the layout images are shown and saved in."""
    return to_uint8_nchw(x).permute(0, 2, 3, 1).numpy()


def make_grid(images: np.ndarray, nrow: int | None = None, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """Tile (N, H, W, C) images row-major into one (H', W', C) image (torchvision's make_grid);
    nrow = images per row, by default a square-ish grid."""
    from torchvision.utils import make_grid as torchvision_grid
    n, _, _, c = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    # torchvision returns a single image unpadded and grey images as RGB: pad it and keep c channels
    batch = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    if n == 1:
        batch = torch.cat([batch, torch.full_like(batch, pad_value)])
        grid = torchvision_grid(batch, nrow=2, padding=padding, pad_value=pad_value)
        grid = grid[:, :, :grid.shape[2] // 2 + padding // 2]
    else:
        grid = torchvision_grid(batch, nrow=nrow, padding=padding, pad_value=pad_value)
    return grid[:c].permute(1, 2, 0).contiguous().numpy()


def upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling: pixels stay crisp, a 28 px digit becomes presentation-sized."""
    if scale <= 1:
        return image
    return image.repeat(scale, axis=0).repeat(scale, axis=1)


def to_pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    to_pil(image).save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: list[np.ndarray] | np.ndarray, frame_ms: int = 80, loop: bool = True,
              pingpong: bool = False) -> bytes:
    """An animated GIF of (H, W, C) uint8 frames, written by imageio. pingpong plays forward then
    back without repeating the end frames; loop=False plays once. Pillow (imageio's GIF writer)
    stores consecutive identical frames as one frame shown for their summed duration, so only
    distinct frames are counted in the file."""
    import imageio.v3 as iio
    frames = [np.asarray(f) for f in frames]
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    if pingpong and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    stack = np.stack([f[..., 0] if f.shape[-1] == 1 else f for f in frames])
    kwargs = {"loop": 0} if loop else {}
    return iio.imwrite("<bytes>", stack, extension=".gif", plugin="pillow", duration=int(frame_ms), disposal=1,
                       optimize=False, **kwargs)


def gif_frame_count(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as im:
        return getattr(im, "n_frames", 1)


def label_grid(grid: np.ndarray, row_labels: list[str], column_labels: list[str], pitch: int, offset: int = 0,
               font_px: int = 14) -> np.ndarray:
    """A grid with a white margin naming its rows (left) and columns (top); pitch is the distance in
    pixels from one cell to the next and offset where the first cell starts."""
    from PIL import ImageDraw, ImageFont
    font = ImageFont.load_default(size=font_px)
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    text_w = lambda t: measure.textbbox((0, 0), t, font=font)[2]  # noqa: E731
    left = max([text_w(t) for t in row_labels] + [0]) + 10
    top = font_px + 10
    h, w = grid.shape[:2]
    canvas = Image.new("RGB", (left + w, top + h), "white")
    canvas.paste(to_pil(grid).convert("RGB"), (left, top))
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(row_labels):
        y = top + offset + i * pitch + (pitch - offset) // 2
        draw.text((left - 5, y), text, fill="black", font=font, anchor="rm")
    for j, text in enumerate(column_labels):
        x = left + offset + j * pitch + (pitch - offset) // 2
        draw.text((x, top // 2), text, fill="black", font=font, anchor="mm")
    out = np.asarray(canvas)
    return out if grid.shape[-1] == 3 else out[..., :1].copy()
