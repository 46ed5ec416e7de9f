"""Images out (tensors to uint8, grids, nearest-neighbour upscaling, PNG and animated GIF bytes) and in
(an image file decoded, cropped and resized to a model's input; an upload prepared and refused with a reason)."""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image


# what a file's suffix promises: every format a command here can write, by the suffixes that name it
# (media.ANIMATION_FORMATS names the animation ones: GIF, MP4, WEBP, APNG, ZIP)
OUTPUT_FORMATS = {"PNG": (".png",), "GIF": (".gif",), "JSON": (".json",), "NPY": (".npy",), "MP4": (".mp4",),
                  "WEBP": (".webp",), "APNG": (".apng",), "ZIP": (".zip",)}


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


# --- images in: a file decoded, cropped and resized to a model's input -----------------------------

MAX_IMAGE_PIXELS = 50_000_000  # larger images are refused from their header: decoding one costs gigabytes
MAX_UPLOAD_BYTES = 50_000_000
# what an upload may be: the formats a browser makes; PIL's rarer decoders are never reached with a stranger's file
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
# how the files of UPLOAD_FORMATS begin: one that cannot be opened is damaged, not something else
IMAGE_SIGNATURES = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG": b"\xff\xd8\xff", "WebP": b"RIFF", "GIF": b"GIF8", "BMP": b"BM"}
MIN_CONTRAST = 8  # a prepared image whose values all lie within this of each other is blank (JPEG noise included)


class ImageTooLarge(ValueError):
    """An image whose header says it has more than MAX_IMAGE_PIXELS pixels: refused before decoding."""


def decode_image(source, image_size: int, channels: int, upload: bool = False) -> np.ndarray:
    """An image file (a path or a file object) as a model takes it: uint8 (C, H, W), 16-bit grey scaled
    (convert() would clip it to white), centre-cropped to a square, resized (bicubic), grey or RGB.
    The pixel count is checked on the header, before anything is decoded (ImageTooLarge).

    upload=True is for a stranger's picture: only UPLOAD_FORMATS are opened, a phone photo is turned
    upright (EXIF orientation), and transparency is laid over a background that contrasts with what
    is drawn (see _flatten_alpha); training folders keep the plain conversion their caches hold."""
    import warnings
    from PIL import ImageOps
    with warnings.catch_warnings():  # PIL warns from ~89 MP; the check below refuses from 50 MP
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im = Image.open(source, formats=UPLOAD_FORMATS if upload else None)  # reads the header only
    with im:
        if im.width * im.height > MAX_IMAGE_PIXELS:
            raise ImageTooLarge(f"{im.width} x {im.height} pixels ({im.width * im.height / 1e6:.0f} megapixels), "
                                f"over the {MAX_IMAGE_PIXELS / 1e6:.0f} megapixel limit")
        im.draft("RGB" if channels == 3 else "L", (image_size * 2, image_size * 2))  # JPEG: decode small
        if upload:
            im = ImageOps.exif_transpose(im)
        if im.mode.startswith("I"):  # 16/32-bit grey: convert() would clip to white, scale instead
            im = Image.fromarray((np.asarray(im, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8))
        has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
        if upload and has_alpha:
            im = im.convert("RGBA")
        else:
            im = im.convert("L" if channels == 1 else "RGB")
        # centre crop to a square, then resize
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side))
        if side != image_size:
            im = im.resize((image_size, image_size), Image.BICUBIC)
        if im.mode == "RGBA":
            im = _flatten_alpha(im).convert("L" if channels == 1 else "RGB")
        arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def _flatten_alpha(im: Image.Image) -> Image.Image:
    """An RGBA picture laid over white when what is drawn (its opaque part) is dark, else over black:
    black strokes on a transparent canvas become black on white, white strokes white on black, so
    neither vanishes into its background."""
    rgba = np.asarray(im, dtype=np.float64)
    alpha = rgba[..., 3] / 255
    if alpha.min() >= 1:
        return im.convert("RGB")
    weight = alpha.sum()
    drawn = (rgba[..., :3].mean(-1) * alpha).sum() / weight if weight > 0 else 0.0
    background = 255.0 if drawn < 128 else 0.0
    out = rgba[..., :3] * alpha[..., None] + background * (1 - alpha[..., None])
    return Image.fromarray(out.round().clip(0, 255).astype(np.uint8), "RGB")


@dataclass
class PreparedImage:
    """An upload made ready for a model: uint8 (H, W, C) at the model's size, and what was done to it."""

    image: np.ndarray
    notes: list[str]


def border_level(image: np.ndarray) -> float:
    """The median of an image's outermost pixels (uint8 (H, W, C)): its background, for digits and garments."""
    edge = np.concatenate([image[0].ravel(), image[-1].ravel(), image[:, 0].ravel(), image[:, -1].ravel()])
    return float(np.median(edge))


# --- re-framing: a drawing made to sit in its frame as MNIST's or Fashion-MNIST's images do ------------------

@dataclass(frozen=True)
class Framing:
    """How a data set's images were framed: the ink's bounding box scaled (aspect kept) until its longer side
    is `box` px, then placed in the image_size frame with its centre of mass ("mass") or its box ("box") at
    the frame's centre."""

    name: str
    box: int
    centre: str  # "mass" or "box"
    frame: int = 28


# LeCun et al.'s MNIST: the digit's box fitted to 20 x 20 (anti-aliased), placed in 28 x 28 so its centre of mass
# is at the centre; measured on 2000 test digits: longest side 20 in 95 %, centre of mass at pixel 14.0 +- 0.3
MNIST_FRAMING = Framing("MNIST", 20, "mass")
# Xiao et al. 2017's Fashion-MNIST: trimmed, the longest edge resized to 28, the shorter extended to 28 round the
# centre (their sharpening step is left out); measured: longest side 28 in 95 %, box centre at pixel 13.6
FASHION_FRAMING = Framing("Fashion-MNIST", 28, "box")
INK_SHARE = 0.2  # a pixel is ink when it is this share of the way from the background to the brightest pixel


def reframe(image: np.ndarray, framing: Framing = MNIST_FRAMING) -> tuple[np.ndarray, str]:
    """A light-on-dark drawing (uint8 (H, W) or (H, W, 1), any size; the larger the better: the ink is cut out
    before it is scaled) framed as the data set's images were: its levels stretched so the background (its
    border) is 0 and the brightest ink 255, the ink's bounding box scaled to fit framing.box (aspect kept,
    anti-aliased), and placed in a framing.frame square so its centre of mass (MNIST) or its box (Fashion)
    sits at the centre. Returns uint8 (frame, frame, 1) and a line saying what was done. ValueError when
    there is no ink (every pixel within MIN_CONTRAST of the background)."""
    grey = np.asarray(image)
    grey = grey[..., 0] if grey.ndim == 3 else grey
    background, brightest = border_level(grey[..., None]), float(grey.max())
    if brightest - background < MIN_CONTRAST:
        raise ValueError("nothing drawn to re-frame: every pixel is the background's level")
    levels = ((grey.astype(np.float64) - background) / (brightest - background)).clip(0, 1)
    rows, cols = np.nonzero(levels >= INK_SHARE)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    h, w = bottom - top, right - left
    scale = framing.box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL's (width, height)
    patch = Image.fromarray((levels[top:bottom, left:right] * 255).round().astype(np.uint8)).resize(size, Image.BICUBIC)
    patch = np.asarray(patch, dtype=np.float64)
    ph, pw = patch.shape
    if framing.centre == "mass":  # MNIST's centre of mass lies at pixel 14.0 of 28 (measured): frame / 2
        ys, xs = np.mgrid[0:ph, 0:pw]
        mass = patch.sum()
        at = (framing.frame / 2 - (ys * patch).sum() / mass, framing.frame / 2 - (xs * patch).sum() / mass)
    else:
        at = ((framing.frame - ph) / 2, (framing.frame - pw) / 2)
    # whole pixels, as the data sets were shifted, and kept inside the frame (a lopsided 7's mass lies near its top)
    y0, x0 = (int(np.clip(np.floor(a + 0.5), 0, framing.frame - n)) for a, n in zip(at, (ph, pw)))
    out = np.zeros((framing.frame, framing.frame), np.uint8)
    out[y0:y0 + ph, x0:x0 + pw] = patch.round().clip(0, 255).astype(np.uint8)
    how = "its centre of mass" if framing.centre == "mass" else "its box"
    share = f"{100 * w / grey.shape[1]:.0f} % x {100 * h / grey.shape[0]:.0f} % of the picture"
    return out[..., None], (f"re-framed as {framing.name}'s images were made: the ink's box ({share}) scaled to "
                            f"{size[0]} x {size[1]} px, {how} at the centre of the {framing.frame} px frame")


def prepare_upload(data: bytes, image_size: int, channels: int, background: str | None = None,
                   allow_blank: bool = False, framing: Framing | None = None) -> PreparedImage:
    """An uploaded picture (PNG, JPEG, WebP, GIF or BMP; any size or mode: CMYK, 16-bit, palette and
    alpha are converted) as a model of image_size px and channels takes it: centre-cropped, resized,
    grey or RGB. background "dark" (a model that draws light on dark: MNIST, Fashion-MNIST) or "light"
    says what the model's images stand on: an upload whose border is the other way round is inverted
    (a digit drawn black on white paper), and a note says so. ValueError, one line, for an empty file,
    one that is not an image, a truncated or damaged one, one over MAX_IMAGE_PIXELS (refused from its
    header, before it is decoded) and, unless allow_blank (D may score a plain colour), a blank one (every
    pixel within MIN_CONTRAST of one value: nothing to invert).

    framing (a drawing for a 28 px grey model that draws on dark): the picture is decoded at 8x the model's
    size, made light on dark, and re-framed there (reframe) as the data set's images were, so a digit drawn
    small in a corner fills the frame as MNIST's do; a note says what was done."""
    if framing is not None and (image_size, channels, background) != (framing.frame, 1, "dark"):
        raise ValueError(f"re-framing as {framing.name} is for {framing.frame} px grey models that draw on a dark "
                         f"background, not {image_size} px {'grey' if channels == 1 else 'RGB'} ones "
                         f"on {background or 'a varying'} background")
    if not data:
        raise ValueError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"the file has {len(data) / 1e6:.0f} MB; an image here is at most "
                         f"{MAX_UPLOAD_BYTES / 1e6:.0f} MB")
    from PIL import UnidentifiedImageError
    try:
        # re-framing cuts the ink out before it is scaled: decoded large, the strokes keep their detail
        arr = decode_image(io.BytesIO(data), image_size * (8 if framing else 1), channels, upload=True)
    except ImageTooLarge as e:
        raise ValueError(f"too large to decode: {e}") from None
    except Image.DecompressionBombError as e:  # past PIL's own limit (twice Image.MAX_IMAGE_PIXELS), in open()
        raise ValueError(f"too large to decode: {str(e).split(',')[0]}") from None
    except UnidentifiedImageError:
        kind = next((name for name, sig in IMAGE_SIGNATURES.items() if data.startswith(sig)), None)
        if kind:  # it begins as one of ours: cut short or damaged
            raise ValueError(f"not an image this app can read: a truncated or damaged {kind} file") from None
        raise ValueError(f"not an image this app can read ({', '.join(UPLOAD_FORMATS[:-1])} or "
                         f"{UPLOAD_FORMATS[-1]})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:  # PIL's words for a cut-off or damaged file
        raise ValueError(f"the image is truncated or damaged ({str(e).splitlines()[0][:80]})") from None
    image = arr.transpose(1, 2, 0).copy()
    low, high = int(image.min()), int(image.max())
    if high - low < MIN_CONTRAST and not allow_blank:
        raise ValueError(f"the image is blank: every pixel is {low}" + ("" if low == high else f" to {high}")
                         + " of 255, nothing drawn")
    notes = []
    level = border_level(image)
    if background is not None and (level > 127) != (background == "light"):
        image = 255 - image
        notes.append(f"inverted: this model draws on a {background} background, the picture's border was "
                     f"{'light' if level > 127 else 'dark'}")
    if framing is not None:
        image, how = reframe(image, framing)
        notes.append(how)
    return PreparedImage(image, notes)


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
