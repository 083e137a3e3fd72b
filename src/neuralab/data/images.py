"""Labelled image sets from files, in one validated form: `ImageDataset`.

Readers (`read_dataset` picks one from what the path is):

    root/<class>/*.png|jpg          read_image_folder   one sub-folder per class, sorted by name -> label 0, 1, ...
    train|t10k-images-idx3-ubyte[.gz] + ...-labels-idx1-ubyte[.gz]
                                    load_idx_pair       MNIST / Fashion-MNIST IDX files (gzip detected by content)
    *.csv, *.csv.gz                 read_pixel_csv      Kaggle style: a label column (first or last) + pixel columns
    *.npz                           read_npz            arrays x|images (NHW, NHWC or NCHW) and y|labels
    (no file)                       load_digits_images  scikit-learn's 8x8 digits, the embedded default

Pixels become floats in [0, 1] (8-bit values divided by 255). Labels become class indices 0..K-1; where a file
holds other label values (Kaggle's sign-language CSV skips 9 = J), the values are kept, as strings, in
`class_names`. Every problem raises a `DataError` naming the file (and the line and column in a CSV).

`stratified_split` draws train/val(/test) indices that keep class proportions; `Normalizer` holds the per-channel
mean and std of the TRAIN split and applies them to every split.

Shape legend: images (N, C, H, W) float32 in [0, 1], C = 1 (grayscale) or 3 (RGB); labels (N,) int64.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import re
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from neuralab.errors import ConfigError, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
LABEL_NAMES = ("label", "labels", "class", "target", "y")
IDX_IMAGES_MAGIC = 0x00000803  # 2051: unsigned bytes, 3 dimensions (N, H, W)
IDX_LABELS_MAGIC = 0x00000801  # 2049: unsigned bytes, 1 dimension (N,)
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, the weights Pillow's convert("L") uses
PathLike = str | os.PathLike[str]


# ----------------------------------------------------------------------------------------------- the result
@dataclass
class ImageDataset:
    """Images and class labels read from one source, checked on construction.

    Attributes:
        images: float32 pixels in [0, 1]. Shape (N, C, H, W).
        labels: int64 class indices in 0..len(class_names)-1. Shape (N,).
        class_names: the name of each class index (folder names, or label values as written in the file).
        source: where the data came from (a path, or a description of an embedded set).
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    source: str

    def __post_init__(self) -> None:
        x, y, where = self.images, self.labels, self.source
        if x.ndim != 4 or not x.is_floating_point():
            raise DataError(f"{where}: images must be a float tensor (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
        if y.ndim != 1 or y.dtype != torch.int64:
            raise DataError(f"{where}: labels must be an int64 tensor (N,), got {y.dtype} {tuple(y.shape)}")
        if len(x) == 0 or len(x) != len(y):
            raise DataError(f"{where}: {len(x)} images but {len(y)} labels; expected the same number, at least one")
        if len(set(self.class_names)) != len(self.class_names):
            raise DataError(f"{where}: class names repeat: {self.class_names}")
        if int(y.min()) < 0 or int(y.max()) >= len(self.class_names):
            raise DataError(f"{where}: labels span {int(y.min())}..{int(y.max())} but there are "
                            f"{len(self.class_names)} classes")
        lo, hi = float(x.min()), float(x.max())
        if not (0.0 <= lo and hi <= 1.0):  # also false for NaN
            raise DataError(f"{where}: pixel values span {lo:g}..{hi:g}; expected [0, 1]")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W)."""
        return self.images.shape[2], self.images.shape[3]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=self.num_classes).tolist()

    def subset(self, index: torch.Tensor) -> ImageDataset:
        """The images at `index` (e.g. one split of `stratified_split`), with the same class names."""
        return ImageDataset(self.images[index], self.labels[index], list(self.class_names), self.source)


# ----------------------------------------------------------------------------------------------- small helpers
def _size_option(image_size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """`image_size` as (H, W): an int is a square side."""
    if image_size is None:
        return None
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    size = tuple(image_size) if isinstance(image_size, Sequence) and not isinstance(image_size, str) else ()
    if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size):
        raise ConfigError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    return size[0], size[1]


def _channels_option(channels: int | None) -> int | None:
    if channels not in (None, 1, 3) or isinstance(channels, bool):
        raise ConfigError(f"channels must be 1 (grayscale), 3 (RGB) or None (as stored), got {channels!r}")
    return channels


def _convert_channels(x: torch.Tensor, channels: int | None) -> torch.Tensor:
    """(N, C, H, W) -> (N, channels, H, W): RGB to luminance, or gray repeated."""
    if channels is None or x.shape[1] == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor(_LUMA, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True).clamp_(0.0, 1.0)  # (N, 3, H, W) -> (N, 1, H, W)


def _resize(x: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Bilinear resize (antialiased when shrinking), in chunks so a large set needs little extra memory."""
    if size is None or tuple(x.shape[2:]) == size:
        return x
    chunks = [F.interpolate(c, size=size, mode="bilinear", align_corners=False, antialias=True)
              for c in x.split(4096)]
    return torch.cat(chunks).clamp_(0.0, 1.0)  # bilinear weights are >= 0, clamp only trims rounding


def _index_labels(values: np.ndarray, where: str) -> tuple[torch.Tensor, list[str]]:
    """Label values as written -> (indices 0..K-1, the value of each index as a string)."""
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            bad = values[~(np.isfinite(values) & (values == np.round(values)))][0].item()
            raise DataError(f"{where}: label {bad!r} is not an integer; labels must be integer class values")
        values = values.astype(np.int64)
    elif values.dtype.kind not in "iub":
        raise DataError(f"{where}: labels have dtype {values.dtype}; expected integer class values")
    uniques, inverse = np.unique(values.astype(np.int64), return_inverse=True)
    return torch.from_numpy(inverse.reshape(-1).astype(np.int64)), [str(v) for v in uniques.tolist()]


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when the content is gzip (whatever the name says)."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("reading image files needs Pillow: pip install 'neuralab[vision]'") from exc
    return Image


# ----------------------------------------------------------------------------------------------- image folder
def _image_files(folder: Path) -> list[str]:
    """Paths (as strings: thousands of Path objects cost more than decoding small images) of the images in
    `folder`, sorted by name."""
    entries = sorted((e.name, e.path) for e in os.scandir(folder)
                     if not e.name.startswith(".") and e.name.lower().endswith(IMAGE_SUFFIXES) and e.is_file())
    return [path for _, path in entries]


def read_image_folder(root: PathLike, *, image_size: int | Sequence[int] | None = None,
                      channels: int | None = None, workers: int | None = None) -> ImageDataset:
    """Read `root/<class>/<image>` files: one sub-folder per class, class index by sorted folder name.

    Args:
        root: folder of class folders. Files in `root` itself and non-image files are ignored.
        image_size: resize every image to this (int side or (H, W)); without it all images must be one size.
        channels: 1 or 3 to convert; None keeps 1 when every image is gray (a gray mode, or R = G = B), else 3.
        workers: threads decoding images (default: one per CPU core, at most 8).

    Returns:
        An `ImageDataset` with `class_names` = the folder names.

    Raises:
        DataError: a missing or empty folder, a class folder without images, an unreadable image, or images of
            different sizes when `image_size` is not given.
    """
    Image = _pillow()
    size, channels = _size_option(image_size), _channels_option(channels)
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{str(root)!r} is not a folder; expected one sub-folder of images per class")
    class_dirs = sorted((Path(e.path) for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")),
                        key=lambda p: p.name)
    if not class_dirs:
        loose = " holds images but" if _image_files(root) else ""
        raise DataError(f"{root}{loose} has no class sub-folders; put each class's images in its own folder "
                        f"({root}/<class>/*.png)")
    files: list[str] = []
    labels: list[int] = []
    for k, folder in enumerate(class_dirs):
        found = _image_files(folder)
        if not found:
            raise DataError(f"class folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); add images or "
                            "remove the folder")
        files.extend(found)
        labels.extend([k] * len(found))

    first = files[0]
    if size is None:
        try:
            with Image.open(first) as img:  # reads the header only
                size = (img.height, img.width)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise DataError(f"{first}: Pillow cannot read this image ({exc}); replace or remove the file") from exc
        expect_first = True
    else:
        expect_first = False
    h, w = size
    pixels = np.empty((len(files), h, w, 3), dtype=np.uint8)  # (N, H, W, RGB), filled in place by the workers
    gray = np.zeros(len(files), dtype=bool)

    def load_one(i: int) -> None:
        path = files[i]
        try:
            # One read() and decoding from memory: Pillow reading the file itself makes many small reads,
            # which doubled the time for the 7,172 28x28 sign-language PNGs.
            with open(path, "rb") as fh, Image.open(io.BytesIO(fh.read())) as img:
                stored = (img.height, img.width)
                if not expect_first or stored == size:
                    gray[i] = img.mode in _GRAY_MODES
                    arr = _as_8bit(img, Image, gray[i], (w, h))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise DataError(f"{path}: Pillow cannot read this image ({exc}); replace or remove the file") from exc
        if expect_first and stored != size:
            raise DataError(f"images differ in size: {first} is {w}x{h} but {path} is {stored[1]}x{stored[0]} "
                            "(width x height); pass image_size to resize them all to one size")
        pixels[i] = arr[..., None] if arr.ndim == 2 else arr  # gray (H, W) broadcasts over RGB

    def load_range(start: int, stop: int) -> None:
        for i in range(start, stop):
            load_one(i)

    # One task per contiguous range, not per image: a future per 28x28 image costs as much as decoding it.
    n_workers = max(1, min(workers or min(8, os.cpu_count() or 1), len(files)))
    bounds = np.linspace(0, len(files), n_workers + 1).astype(int)
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        for future in [pool.submit(load_range, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]:
            future.result()

    is_gray = bool(gray.all()) or _all_gray(pixels)
    if channels is None:
        channels = 1 if is_gray else 3
    if is_gray:
        x = torch.from_numpy(pixels[..., :1]).permute(0, 3, 1, 2)  # (N, H, W, 1) -> (N, 1, H, W)
    else:
        x = torch.from_numpy(pixels).permute(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)
    x = _convert_channels(x.float().div_(255), channels).contiguous()
    return ImageDataset(x, torch.tensor(labels, dtype=torch.int64), [d.name for d in class_dirs], str(root))


def _as_8bit(img: Any, Image: Any, gray: bool, size: tuple[int, int]) -> np.ndarray:
    """Pixels of a Pillow image as uint8 (H, W) gray or (H, W, 3) RGB, resized to `size` = (width, height).

    Alpha is dropped; 16-bit gray is scaled to 8 bits (65535 -> 255), float gray from 0..1 or 0..255.
    """
    if img.mode == "RGBA" and img.size == size:
        return np.asarray(img)[..., :3]  # skips a convert() copy: the common case of PNGs saved by matplotlib
    if not gray:
        img = img.convert("RGB")  # palette, CMYK, YCbCr, ...
    elif img.mode in ("1", "LA", "La"):
        img = img.convert("L")
    elif img.mode != "L":
        arr = np.asarray(img, dtype=np.float64)
        scale = 1.0 / 257.0 if img.mode != "F" else 255.0 if arr.max(initial=0.0) <= 1.0 else 1.0
        img = Image.fromarray(np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8), mode="L")
    if img.size != size:
        img = img.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(img)


def _all_gray(pixels: np.ndarray) -> bool:
    """True when R = G = B in every pixel of (N, H, W, 3)."""
    return bool(np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 0], pixels[..., 2]))


# ----------------------------------------------------------------------------------------------- MNIST IDX
def _read_idx(path: Path, magic: int, what: str) -> np.ndarray:
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: {len(data)} bytes is too short for an IDX {what} file")
    received = int.from_bytes(data[:4], "big")
    if received != magic:
        other = {IDX_IMAGES_MAGIC: " (that of an IDX images file)", IDX_LABELS_MAGIC: " (that of an IDX labels "
                 "file: are images and labels swapped?)"}.get(received, "")
        raise DataError(f"{path}: magic number {received} (0x{received:08X}){other}; an IDX {what} file starts with "
                        f"{magic} (0x{magic:08X})")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if len(data) != header + math.prod(dims):
        raise DataError(f"{path}: the header announces {'x'.join(map(str, dims))} = {math.prod(dims)} bytes of "
                        f"{what} but the file holds {len(data) - header}; the file is truncated or corrupt")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load_idx_pair(images_path: PathLike, labels_path: PathLike, *, image_size: int | Sequence[int] | None = None,
                  channels: int | None = None) -> ImageDataset:
    """Read an MNIST-format pair: `*-images-idx3-ubyte[.gz]` (N, H, W) and `*-labels-idx1-ubyte[.gz]` (N,).

    Raises:
        DataError: an unreadable file, a wrong magic number (the message gives the one received), a size that
            disagrees with the header, or different image and label counts.
    """
    size, channels = _size_option(image_size), _channels_option(channels)
    images_path, labels_path = Path(images_path), Path(labels_path)
    images = _read_idx(images_path, IDX_IMAGES_MAGIC, "images")  # (N, H, W) uint8
    raw_labels = _read_idx(labels_path, IDX_LABELS_MAGIC, "labels")  # (N,) uint8
    if len(images) != len(raw_labels):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(raw_labels)} "
                        "labels; give the matching pair (train with train, t10k with t10k)")
    labels, names = _index_labels(raw_labels, str(labels_path))
    x = torch.from_numpy(images.copy()).unsqueeze(1).float().div_(255)  # (N, H, W) -> (N, 1, H, W)
    x = _resize(_convert_channels(x, channels), size)
    return ImageDataset(x, labels, names, str(images_path))


def _find_idx(folder: Path, split: str) -> tuple[Path, Path]:
    prefixes = {"train": ("train",), "test": ("t10k", "test")}
    if split not in prefixes:
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    names = sorted(p.name for p in folder.iterdir() if re.search(r"idx\d-ubyte", p.name))

    def pick(kind: str, dim: int) -> Path | None:
        for prefix in prefixes[split]:
            for name in names:
                if re.fullmatch(rf"{prefix}-{kind}[-.]idx{dim}-ubyte(\.gz)?", name):
                    return folder / name
        return None

    images, labels = pick("images", 3), pick("labels", 1)
    if images is None or labels is None:
        held = ", ".join(names) or "no IDX files"
        missing = "images" if images is None else "labels"
        raise DataError(f"{folder} has no {split} {missing} ({'|'.join(prefixes[split])}-{missing}-idx"
                        f"{3 if images is None else 1}-ubyte[.gz]); it holds {held}"
                        + ("; try split='test'" if split == "train" else ""))
    return images, labels


# ----------------------------------------------------------------------------------------------- pixel CSV
def _parse_row(fields: list[str], where: str, line: int, header: list[str] | None) -> np.ndarray:
    try:
        row = np.array(fields, dtype=np.float64)
    except ValueError:
        row = None
    if row is not None and np.all(np.isfinite(row)):
        return row
    for col, text in enumerate(fields, start=1):  # find the culprit only on the slow path
        try:
            if math.isfinite(float(text)):
                continue
        except ValueError:
            pass
        name = f" ({header[col - 1].strip()!r})" if header else ""
        what = "is empty" if not text.strip() else f"{text.strip()!r} is not a finite number"
        raise DataError(f"{where}: line {line}, column {col}{name}: {what}; pixels and labels must be numbers")
    raise AssertionError("unreachable")


def _fast_table(text: str) -> tuple[np.ndarray, list[str] | None, list[int]] | None:
    """(table, header, line numbers) by NumPy's C parser for a clean file (3x faster than line by line); None
    for anything irregular, which the line-by-line reader then reports by line and column."""
    if '"' in text:
        return None
    numbered = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    first = numbered[0][1].split(",") if numbered else []
    if len(first) < 2:
        return None
    header = first if all(not _is_number(f) for f in first) else None
    if header is not None:
        numbered = numbered[1:]
    if not numbered:
        return None
    try:
        table = np.loadtxt([line for _, line in numbered], delimiter=",", dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        return None
    if table.shape[1] != len(first) or not np.isfinite(table).all():
        return None
    return table, header, [i for i, _ in numbered]


def _slow_table(text: str, where: str) -> tuple[np.ndarray, list[str] | None, list[int]]:
    header: list[str] | None = None
    rows: list[np.ndarray] = []
    lines: list[int] = []
    width = width_line = 0
    reader = csv.reader(io.StringIO(text))
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if width == 0:
                width, width_line = len(fields), line
                if width < 2:
                    raise DataError(f"{where}: line {line} has 1 column; expected a label column and pixel columns")
                if all(not _is_number(f) for f in fields):
                    header = fields
                    continue
            if len(fields) != width:
                raise DataError(f"{where}: line {line} has {len(fields)} columns but line {width_line} has {width}; "
                                "every line needs the label and the same number of pixels")
            rows.append(_parse_row(fields, where, line, header))
            lines.append(line)
    except csv.Error as exc:
        raise DataError(f"{where}: line {reader.line_num}: not valid CSV ({exc})") from exc
    if not rows:
        raise DataError(f"{where} has no data rows; expected a label column and pixel columns")
    return np.stack(rows), header, lines


def read_pixel_csv(path: PathLike, *, image_size: int | Sequence[int] | None = None, channels: int = 1,
                   label_column: str | None = None) -> ImageDataset:
    """Read a Kaggle-style CSV: one image per line, a label column and H*W*channels pixel columns.

    The label column is the header field named label (or class, target, y), first or last. Without a header,
    `label_column` says "first" or "last"; left out, the column that varies is taken as the label when the other
    one is constant (a corner pixel, as in MNIST), else a DataError asks for it. Pixels are 0..255 (divided by
    255) or already 0..1. RGB pixels (channels=3) are stored pixel by pixel (R, G, B, R, G, B, ...).

    Args:
        image_size: the output (H, W). When the pixel count is channels x a square, images are that square and
            are resized to `image_size`; otherwise `image_size` must give the stored (H, W).

    Raises:
        DataError: naming the file and line for a row of the wrong length, and the column for a value that is not
            a number, is negative or above 255.
    """
    size = _size_option(image_size)
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ConfigError(f"channels must be 1 or 3 for a pixel CSV, got {channels!r}")
    if label_column not in (None, "first", "last"):
        raise ConfigError(f"label_column must be 'first', 'last' or None (detect), got {label_column!r}")
    path = Path(path)
    where = str(path)
    try:
        text = _read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as a UTF-8 CSV") \
            from exc
    table, header, lines = _fast_table(text) or _slow_table(text, where)  # (N, 1 + P)
    label_at = _label_position(table, header, label_column, where)
    raw_labels = table[:, label_at]
    fractional = np.flatnonzero(raw_labels != np.round(raw_labels))
    if len(fractional):
        r = fractional[0]
        raise DataError(f"{where}: line {lines[r]}, column {label_at + 1}: label {raw_labels[r]:g} is not an integer; "
                        "the label column must hold integer class values")
    pixels = np.delete(table, label_at, axis=1)  # (N, P)
    offset = 1 if label_at == 0 else 0  # pixel column j is file column j + 1 + offset
    bad = np.argwhere((pixels < 0) | (pixels > 255))
    if len(bad):
        r, c = bad[0]
        raise DataError(f"{where}: line {lines[r]}, column {c + 1 + offset}: pixel {pixels[r, c]:g} is outside "
                        "0..255")
    labels, names = _index_labels(raw_labels, where)
    if pixels.max() > 1.0:
        pixels = pixels / 255.0
    n, count = pixels.shape
    side = math.isqrt(count // channels)
    if side * side * channels == count:
        stored = (side, side)
    elif size is not None and size[0] * size[1] * channels == count:
        stored = size
    else:
        raise DataError(f"{where}: {count} pixel columns is not {channels} x a square number (784 = 28x28); pass "
                        f"image_size=(H, W) with H*W*{channels} = {count}")
    x = torch.from_numpy(pixels.astype(np.float32)).view(n, *stored, channels).permute(0, 3, 1, 2)  # NHWC -> NCHW
    return ImageDataset(_resize(x.contiguous(), size), labels, names, where)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _label_position(table: np.ndarray, header: list[str] | None, label_column: str | None, where: str) -> int:
    last = table.shape[1] - 1
    if label_column is not None:
        return 0 if label_column == "first" else last
    if header is not None:
        names = [h.strip().lower() for h in header]
        if names[0] in LABEL_NAMES:
            return 0
        if names[-1] in LABEL_NAMES:
            return last
        raise DataError(f"{where}: the header ({header[0]!r}, ..., {header[-1]!r}) names no label column first or "
                        f"last; name it one of {', '.join(LABEL_NAMES)}, or pass label_column='first'|'last'")
    first_varies = bool(np.ptp(table[:, 0]) > 0)
    last_varies = bool(np.ptp(table[:, last]) > 0)
    if first_varies != last_varies:
        return 0 if first_varies else last
    raise DataError(f"{where} has no header, so the label column is ambiguous; add a header with a 'label' column "
                    "or pass label_column='first'|'last'")


# ----------------------------------------------------------------------------------------------- npz
def read_npz(path: PathLike, *, image_size: int | Sequence[int] | None = None,
             channels: int | None = None) -> ImageDataset:
    """Read a NumPy `.npz` holding images as `x` or `images` and labels as `y` or `labels`.

    Images may be (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3 (NCHW when both readings fit), as
    uint8 0..255 or floats in 0..1 (or 0..255). An optional `class_names` array names the label values.
    """
    size, channels = _size_option(image_size), _channels_option(channels)
    path = Path(path)
    where = str(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read {where} as a NumPy .npz archive ({exc})") from exc
    x_key = next((k for k in ("x", "images", "X") if k in arrays), None)
    y_key = next((k for k in ("y", "labels", "Y") if k in arrays), None)
    if x_key is None or y_key is None:
        raise DataError(f"{where} holds arrays {sorted(arrays)}; expected images as 'x' or 'images' and labels as "
                        "'y' or 'labels'")
    images, raw_labels = arrays[x_key], arrays[y_key]
    if raw_labels.ndim == 2 and raw_labels.shape[1] == 1:
        raw_labels = raw_labels[:, 0]  # (N, 1) -> (N,)
    if images.ndim == 3:
        images = images[:, None]  # (N, H, W) -> (N, 1, H, W)
    elif images.ndim == 4 and images.shape[1] in (1, 3):
        pass  # NCHW
    elif images.ndim == 4 and images.shape[3] in (1, 3):
        images = images.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    else:
        raise DataError(f"{where}: '{x_key}' has shape {images.shape}; expected (N, H, W), (N, H, W, C) or "
                        "(N, C, H, W) with C = 1 or 3")
    if raw_labels.ndim != 1 or len(raw_labels) != len(images):
        raise DataError(f"{where}: '{y_key}' has shape {raw_labels.shape} for {len(images)} images; expected (N,)")
    x = _scale_pixels(images, f"{where}: '{x_key}'")
    labels, names = _index_labels(raw_labels, f"{where}: '{y_key}'")
    if "class_names" in arrays:
        given = [str(s) for s in arrays["class_names"].tolist()]
        values = [int(v) for v in names]
        if len(given) <= max(values) or min(values) < 0:
            raise DataError(f"{where}: 'class_names' has {len(given)} names but labels go up to {max(values)}")
        names = [given[v] for v in values]
    x = _resize(_convert_channels(x, channels), size)
    return ImageDataset(x, labels, names, where)


def _scale_pixels(images: np.ndarray, where: str) -> torch.Tensor:
    if images.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(images)).float().div_(255)
    if images.dtype.kind not in "biuf":
        raise DataError(f"{where} has dtype {images.dtype}; expected numbers (uint8 0..255 or floats 0..1)")
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    lo, hi = float(x.min()), float(x.max())
    if not (0.0 <= lo and hi <= 255.0):
        raise DataError(f"{where}: values span {lo:g}..{hi:g}; expected 0..255 or 0..1")
    return x.div_(255) if hi > 1.0 else x


# ----------------------------------------------------------------------------------------------- dispatch, default
def read_dataset(path: PathLike, *, image_size: int | Sequence[int] | None = None, channels: int | None = None,
                 split: str = "train") -> ImageDataset:
    """Read whatever `path` is: a folder of class folders, a folder of IDX files (`split` picks train or t10k),
    an IDX images file (its labels file found beside it), a `.csv` / `.csv.gz` or a `.npz`.

    Raises:
        DataError: a path that is none of these, or whatever the chosen reader raises.
    """
    path = Path(path)
    if path.is_dir():
        if any(re.search(r"idx\d-ubyte", p.name) for p in path.iterdir()):
            return load_idx_pair(*_find_idx(path, split), image_size=image_size, channels=channels)
        return read_image_folder(path, image_size=image_size, channels=channels)
    name = path.name.lower()
    if not path.is_file():
        raise DataError(f"{str(path)!r} does not exist; expected an image folder, IDX files, a .csv or a .npz")
    if name.endswith((".csv", ".csv.gz")):
        return read_pixel_csv(path, image_size=image_size, channels=channels or 1)
    if name.endswith(".npz"):
        return read_npz(path, image_size=image_size, channels=channels)
    if re.search(r"images[-.]idx3-ubyte", name):
        labels = path.with_name(re.sub(r"images([-.])idx3", r"labels\1idx1", path.name))
        if not labels.is_file():
            raise DataError(f"{path} is an IDX images file but its labels file {labels.name} is not beside it")
        return load_idx_pair(path, labels, image_size=image_size, channels=channels)
    raise DataError(f"cannot tell how to read {path}: expected a folder of class folders, a folder of IDX files, "
                    "*-images-idx3-ubyte[.gz], .csv, .csv.gz or .npz")


def load_digits_images(*, image_size: int | Sequence[int] | None = None, channels: int | None = None) -> ImageDataset:
    """scikit-learn's 1,797 handwritten digits as (N, 1, 8, 8) images in [0, 1] (their 0..16 values / 16).

    The embedded default: ships with scikit-learn, no file needed. `image_size` upscales (e.g. 28 or 32 for
    networks built for MNIST).
    """
    size, channels = _size_option(image_size), _channels_option(channels)
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)  # (N, 8, 8) -> (N, 1, 8, 8)
    x = _resize(_convert_channels(x, channels), size)
    return ImageDataset(x, torch.from_numpy(digits.target.astype(np.int64)), [str(d) for d in range(10)],
                        "scikit-learn digits (8x8)")


# ----------------------------------------------------------------------------------------------- split, normalise
def stratified_split(labels: torch.Tensor | np.ndarray | Sequence[int],
                     fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Indices of a train/val(/test) split that keeps each class's share in every part.

    Args:
        labels: class labels (N,).
        fractions: two or three positive fractions summing to 1: (train, test) or (train, val, test).
        seed: the same seed gives the same split.

    Returns:
        One sorted int64 index tensor per fraction; together they partition 0..N-1.

    Raises:
        ConfigError: bad fractions. DataError: a class too small to appear in every part.
    """
    from sklearn.model_selection import train_test_split

    fr = [float(f) for f in fractions]
    if len(fr) not in (2, 3) or any(not 0.0 < f < 1.0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise ConfigError(f"fractions must be 2 or 3 numbers in (0, 1) summing to 1, e.g. (0.8, 0.1, 0.1), got "
                          f"{tuple(fractions)!r}")
    y = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    values, counts = np.unique(y, return_counts=True)
    if counts.min() < len(fr):
        small = values[counts.argmin()]
        raise DataError(f"class {small} has {counts.min()} example(s); a stratified {len(fr)}-way split needs at "
                        f"least {len(fr)} per class")
    index = np.arange(len(y))
    try:
        train, rest = train_test_split(index, train_size=fr[0], stratify=y, random_state=seed)
        parts = [train, rest]
        if len(fr) == 3:
            val, test = train_test_split(rest, test_size=fr[2] / (fr[1] + fr[2]), stratify=y[rest],
                                         random_state=seed)
            parts = [train, val, test]
    except ValueError as exc:  # e.g. a part smaller than the number of classes
        raise DataError(f"cannot split {len(y)} examples of {len(values)} classes into fractions {tuple(fr)}: "
                        f"{exc}") from exc
    return tuple(torch.from_numpy(np.sort(p).astype(np.int64)) for p in parts)


@dataclass
class Normalizer:
    """Per-channel standardisation, `(x - mean) / std`, with statistics of the training split only.

    Fit it on the train split, apply it to every split (and to images at prediction time); keep `to_dict()` in
    the model's config so a saved model normalises its inputs the way it was trained.
    """

    mean: list[float]
    std: list[float]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean or any(s <= 0 for s in self.std):
            raise ConfigError(f"Normalizer needs one mean and one positive std per channel, got mean={self.mean}, "
                              f"std={self.std}")

    @classmethod
    def fit(cls, images: torch.Tensor) -> Normalizer:
        """Mean and (population) std of each channel of `images` (N, C, H, W); a constant channel gets std 1."""
        if images.ndim != 4:
            raise DataError(f"Normalizer.fit needs images (N, C, H, W), got shape {tuple(images.shape)}")
        total = torch.zeros(images.shape[1], dtype=torch.float64)
        squares = torch.zeros_like(total)
        for chunk in images.split(4096):  # float64 sums, a chunk at a time
            c = chunk.to(torch.float64)
            total += c.sum(dim=(0, 2, 3))
            squares += c.square().sum(dim=(0, 2, 3))
        count = images.numel() / images.shape[1]
        mean = total / count
        std = (squares / count - mean.square()).clamp_min(0.0).sqrt()
        std = torch.where(std > 1e-8, std, torch.ones_like(std))
        return cls(mean.tolist(), std.tolist())

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(images)
        return (images - mean) / std

    def inverse(self, images: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(images)
        return images * std + mean

    def _stats(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.ndim != 4 or images.shape[1] != len(self.mean):
            raise DataError(f"Normalizer for {len(self.mean)} channel(s) got images of shape {tuple(images.shape)}")
        shape = (1, -1, 1, 1)
        return (torch.tensor(self.mean, dtype=images.dtype, device=images.device).view(shape),
                torch.tensor(self.std, dtype=images.dtype, device=images.device).view(shape))

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        try:
            return cls([float(v) for v in d["mean"]], [float(v) for v in d["std"]])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"a Normalizer dict needs 'mean' and 'std' lists of numbers, got {d!r}") from exc
