"""Image readers: round trips through tiny files written here, every error message, and the real data sets."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralab.data.images import (
    ImageDataset,
    Normalizer,
    load_digits_images,
    load_idx_pair,
    read_dataset,
    read_image_folder,
    read_npz,
    read_pixel_csv,
    stratified_split,
)
from neuralab.errors import ConfigError, DataError

Image = pytest.importorskip("PIL.Image")


def shared_data() -> Path:
    """The shared data folder ($NEURALAB_DATA or ../shared/data beside the repository); skips when absent."""
    root = Path(os.environ.get("NEURALAB_DATA") or Path(__file__).resolve().parents[2].parent / "shared" / "data")
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (set NEURALAB_DATA)")
    return root


def save_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)


def gray(seed: int, h: int = 5, w: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


# ----------------------------------------------------------------------------------------------- image folder
def test_folder_round_trip_gray(tmp_path: Path) -> None:
    pixels = {("cat", "a.png"): gray(0), ("cat", "b.png"): gray(1), ("ant", "z.png"): gray(2)}
    for (cls, name), arr in pixels.items():
        save_png(tmp_path / cls / name, arr)
    (tmp_path / "README.txt").write_text("ignored")
    (tmp_path / "cat" / "notes.txt").write_text("ignored")
    ds = read_image_folder(tmp_path)
    assert ds.class_names == ["ant", "cat"]  # sorted folder names -> 0, 1
    assert ds.labels.tolist() == [0, 1, 1]
    assert ds.images.shape == (3, 1, 5, 4) and ds.images.dtype == torch.float32
    assert ds.channels == 1 and ds.image_size == (5, 4) and ds.num_classes == 2 and len(ds) == 3
    expected = [pixels["ant", "z.png"], pixels["cat", "a.png"], pixels["cat", "b.png"]]
    for got, want in zip(ds.images, expected, strict=True):
        assert torch.equal(got[0], torch.from_numpy(want).float() / 255)
    assert ds.source == str(tmp_path)


def test_folder_rgb_channels(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    save_png(tmp_path / "a" / "1.png", rgb)
    save_png(tmp_path / "b" / "1.png", rgb[::-1])
    ds = read_image_folder(tmp_path)
    assert ds.images.shape == (2, 3, 6, 6)
    assert torch.equal(ds.images[0], torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)
    luma = read_image_folder(tmp_path, channels=1).images
    want = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255
    assert luma.shape == (2, 1, 6, 6)
    assert torch.allclose(luma[0, 0], torch.from_numpy(want).float(), atol=1e-6)


def test_folder_rgba_with_equal_channels_reads_as_gray(tmp_path: Path) -> None:
    g = gray(3, 4, 4)
    rgba = np.stack([g, g, g, np.full_like(g, 255)], axis=-1)  # how the sign-language PNGs are stored
    save_png(tmp_path / "a" / "x.png", rgba)
    save_png(tmp_path / "b" / "y.png", g)
    ds = read_image_folder(tmp_path)
    assert ds.images.shape == (2, 1, 4, 4)
    assert torch.equal(ds.images[0, 0], torch.from_numpy(g).float() / 255)
    assert read_image_folder(tmp_path, channels=3).images.shape == (2, 3, 4, 4)


def test_folder_jpeg_and_resize(tmp_path: Path) -> None:
    save_png(tmp_path / "a" / "big.png", gray(0, 10, 12))
    (tmp_path / "b").mkdir()
    Image.fromarray(gray(1, 7, 7)).save(tmp_path / "b" / "small.jpg")
    ds = read_image_folder(tmp_path, image_size=8)
    assert ds.images.shape == (2, 1, 8, 8)
    assert read_image_folder(tmp_path, image_size=(6, 9)).images.shape == (2, 1, 6, 9)


def test_folder_mixed_sizes_name_both_files(tmp_path: Path) -> None:
    save_png(tmp_path / "a" / "one.png", gray(0, 5, 4))
    save_png(tmp_path / "b" / "two.png", gray(0, 8, 3))
    with pytest.raises(DataError, match=r"one\.png is 4x5 but .*two\.png is 3x8.*image_size"):
        read_image_folder(tmp_path)


def test_folder_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is not a folder"):
        read_image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=rf"{tmp_path / 'empty'} has no class sub-folders"):
        read_image_folder(tmp_path / "empty")
    save_png(tmp_path / "loose" / "x.png", gray(0))
    with pytest.raises(DataError, match="holds images but has no class sub-folders"):
        read_image_folder(tmp_path / "loose")
    save_png(tmp_path / "data" / "a" / "x.png", gray(0))
    (tmp_path / "data" / "b").mkdir()
    (tmp_path / "data" / "b" / "notes.txt").write_text("no images")
    with pytest.raises(DataError, match=rf"class folder {tmp_path / 'data' / 'b'} holds no images"):
        read_image_folder(tmp_path / "data")


def test_folder_corrupt_image_names_the_file(tmp_path: Path) -> None:
    save_png(tmp_path / "a" / "good.png", gray(0))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match=r"bad\.png: Pillow cannot read this image"):
        read_image_folder(tmp_path)


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="image_size"):
        load_digits_images(image_size=0)
    with pytest.raises(ConfigError, match="channels"):
        load_digits_images(channels=2)


# ----------------------------------------------------------------------------------------------- IDX
def write_idx(path: Path, arr: np.ndarray, magic: int | None = None, compress: bool = False) -> Path:
    magic = (0x0800 + arr.ndim) if magic is None else magic
    data = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape) + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path: Path, compress: bool) -> None:
    images = np.random.default_rng(0).integers(0, 256, (6, 4, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2], dtype=np.uint8)
    suffix = ".gz" if compress else ""
    ip = write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, compress=compress)
    lp = write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, compress=compress)
    ds = load_idx_pair(ip, lp)
    assert ds.images.shape == (6, 1, 4, 3)
    assert torch.equal(ds.images[:, 0], torch.from_numpy(images).float() / 255)
    assert ds.labels.tolist() == labels.tolist() and ds.class_names == ["0", "1", "2"]
    assert read_dataset(tmp_path).labels.tolist() == labels.tolist()  # folder of IDX files
    assert read_dataset(ip).images.shape == (6, 1, 4, 3)  # an images file finds its labels file
    with pytest.raises(DataError, match=r"has no test images \(t10k\|test-images-idx3-ubyte\[\.gz\]\); it holds "
                                        r"train-images"):
        read_dataset(tmp_path, split="test")


def test_idx_errors(tmp_path: Path) -> None:
    images = np.zeros((3, 2, 2), dtype=np.uint8)
    labels = np.array([0, 1, 1], dtype=np.uint8)
    ip = write_idx(tmp_path / "i", images)
    lp = write_idx(tmp_path / "l", labels)
    with pytest.raises(DataError, match=r"l: magic number 2049 \(0x00000801\) \(that of an IDX labels file: are "
                                        r"images and labels swapped\?\); an IDX images file starts with 2051"):
        load_idx_pair(lp, ip)
    bad = write_idx(tmp_path / "bad", images, magic=0x1234)
    with pytest.raises(DataError, match=r"bad: magic number 4660 \(0x00001234\); an IDX images file starts with "
                                        r"2051 \(0x00000803\)"):
        load_idx_pair(bad, lp)
    (tmp_path / "cut").write_bytes(ip.read_bytes()[:-2])
    with pytest.raises(DataError, match=r"cut: the header announces 3x2x2 = 12 bytes of images but the file holds "
                                        r"10; the file is truncated"):
        load_idx_pair(tmp_path / "cut", lp)
    short = write_idx(tmp_path / "short", labels[:2])
    with pytest.raises(DataError, match=r"holds 3 images but .*short holds 2 labels"):
        load_idx_pair(ip, short)
    (tmp_path / "broken.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 3)
    with pytest.raises(DataError, match=r"cannot read .*broken\.gz"):
        load_idx_pair(tmp_path / "broken.gz", lp)


# ----------------------------------------------------------------------------------------------- CSV
def test_csv_label_first_with_header_and_kaggle_labels(tmp_path: Path) -> None:
    path = tmp_path / "sign.csv"
    path.write_text("label,pixel1,pixel2,pixel3,pixel4\n3,0,255,10,20\n10,1,2,3,4\n\n24,5,6,7,8\n")
    ds = read_pixel_csv(path)
    assert ds.images.shape == (3, 1, 2, 2)
    assert ds.images[0, 0].flatten().tolist() == pytest.approx([0, 1, 10 / 255, 20 / 255])
    assert ds.class_names == ["3", "10", "24"] and ds.labels.tolist() == [0, 1, 2]  # values kept as names


def test_csv_gz_label_last_without_header(tmp_path: Path) -> None:
    rows = ["0,5,6,7,0,1", "0,8,9,10,0,0", "0,1,1,1,0,1"]  # corner pixels constant: the varying end is the label
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress("\n".join(rows).encode()))
    with pytest.raises(DataError, match=r"5 pixel columns is not 1 x a square number"):
        read_dataset(path)
    path.write_bytes(gzip.compress("\n".join(r[:2] + r[4:] for r in rows).encode()))  # 4 pixels + label
    ds = read_dataset(path)
    assert ds.labels.tolist() == [1, 0, 1] and ds.images.shape == (3, 1, 2, 2)
    assert ds.images[1, 0].flatten().tolist() == pytest.approx([0, 9 / 255, 10 / 255, 0])


def test_csv_image_size_gives_non_square_shape_and_resizes_square(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("label,a,b,c,d,e,f\n0,0,0,0,0,0,0\n1,1,1,1,1,1,1\n")
    assert read_pixel_csv(path, image_size=(2, 3)).images.shape == (2, 1, 2, 3)
    square = tmp_path / "sq.csv"
    square.write_text("label,a,b,c,d\n0,0,0,0,0\n1,1,1,1,1\n")
    assert read_pixel_csv(square, image_size=6).images.shape == (2, 1, 6, 6)


def test_csv_errors_name_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("label,p1,p2,p3,p4\n1,0,0,0,0\n2,0,0,0\n")
    with pytest.raises(DataError, match=r"bad\.csv: line 3 has 4 columns but line 1 has 5"):
        read_pixel_csv(path)
    path.write_text("label,p1,p2,p3,p4\n1,0,0,0,0\n\n2,0,oops,0,0\n")
    with pytest.raises(DataError, match=r"bad\.csv: line 4, column 3 \('p2'\): 'oops' is not a finite number"):
        read_pixel_csv(path)
    path.write_text("label,p1,p2,p3,p4\n1,0,0,,0\n")
    with pytest.raises(DataError, match=r"line 2, column 4 \('p3'\): is empty"):
        read_pixel_csv(path)
    path.write_text("label,p1,p2,p3,p4\n1,0,0,0,0\n2,0,0,0,300\n")
    with pytest.raises(DataError, match=r"bad\.csv: line 3, column 5: pixel 300 is outside 0\.\.255"):
        read_pixel_csv(path)
    path.write_text("label,p1,p2,p3,p4\n1.5,0,0,0,0\n")
    with pytest.raises(DataError, match=r"bad\.csv: line 2, column 1: label 1\.5 is not an integer"):
        read_pixel_csv(path)
    path.write_text("p1,p2,p3,p4,kind\n0,0,0,0,1\n")
    with pytest.raises(DataError, match="names no label column first or last"):
        read_pixel_csv(path)
    path.write_text("1,2,3,4,5\n6,7,8,9,1\n")
    with pytest.raises(DataError, match="label column is ambiguous"):
        read_pixel_csv(path)
    assert read_pixel_csv(path, label_column="first").class_names == ["1", "6"]
    path.write_text("label,p1\n")
    with pytest.raises(DataError, match="has no data rows"):
        read_pixel_csv(path)


# ----------------------------------------------------------------------------------------------- npz
@pytest.mark.parametrize("layout", ["NHW", "NHWC", "NCHW"])
def test_npz_layouts(tmp_path: Path, layout: str) -> None:
    base = np.random.default_rng(0).integers(0, 256, (4, 5, 6), dtype=np.uint8)  # (N, H, W)
    x = {"NHW": base, "NHWC": base[..., None], "NCHW": base[:, None]}[layout]
    np.savez(tmp_path / "d.npz", images=x, labels=np.array([1, 0, 1, 0]))
    ds = read_dataset(tmp_path / "d.npz")
    assert ds.images.shape == (4, 1, 5, 6)
    assert torch.equal(ds.images[:, 0], torch.from_numpy(base).float() / 255)
    assert ds.labels.tolist() == [1, 0, 1, 0]


def test_npz_rgb_floats_and_class_names(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((3, 4, 4, 3)).astype(np.float32)  # NHWC in [0, 1]
    np.savez(tmp_path / "d.npz", x=x, y=np.array([2, 0, 2]), class_names=np.array(["cat", "dog", "emu"]))
    ds = read_npz(tmp_path / "d.npz")
    assert ds.images.shape == (3, 3, 4, 4)
    assert torch.allclose(ds.images, torch.from_numpy(x).permute(0, 3, 1, 2))
    assert ds.class_names == ["cat", "emu"] and ds.labels.tolist() == [1, 0, 1]


def test_npz_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "keys.npz", pixels=np.zeros((2, 3, 3)), target=np.zeros(2))
    with pytest.raises(DataError, match=r"holds arrays \['pixels', 'target'\]; expected images as 'x' or 'images'"):
        read_npz(tmp_path / "keys.npz")
    np.savez(tmp_path / "shape.npz", x=np.zeros((2, 3, 5, 5, 2)), y=np.zeros(2))
    with pytest.raises(DataError, match=r"'x' has shape \(2, 3, 5, 5, 2\)"):
        read_npz(tmp_path / "shape.npz")
    np.savez(tmp_path / "range.npz", x=np.full((2, 3, 3), 400.0), y=np.zeros(2))
    with pytest.raises(DataError, match=r"'x': values span 400\.\.400; expected 0\.\.255 or 0\.\.1"):
        read_npz(tmp_path / "range.npz")
    np.savez(tmp_path / "count.npz", x=np.zeros((2, 3, 3)), y=np.zeros(3))
    with pytest.raises(DataError, match=r"'y' has shape \(3,\) for 2 images"):
        read_npz(tmp_path / "count.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"cannot read .*junk\.npz"):
        read_npz(tmp_path / "junk.npz")


def test_read_dataset_rejects_unknown_paths(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_dataset(tmp_path / "nothing.csv")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"cannot tell how to read .*notes\.txt"):
        read_dataset(tmp_path / "notes.txt")


def test_dataset_validates_pixels_and_labels() -> None:
    with pytest.raises(DataError, match=r"pixel values span 0\.\.2; expected \[0, 1\]"):
        ImageDataset(torch.tensor([0.0, 2.0]).view(1, 1, 1, 2), torch.tensor([0]), ["a"], "mem")
    with pytest.raises(DataError, match="labels span 0..3 but there are 2 classes"):
        ImageDataset(torch.zeros(2, 1, 2, 2), torch.tensor([0, 3]), ["a", "b"], "mem")


# ----------------------------------------------------------------------------------------------- digits
def test_digits_default() -> None:
    ds = load_digits_images()
    assert ds.images.shape == (1797, 1, 8, 8) and ds.class_names == [str(d) for d in range(10)]
    assert float(ds.images.min()) == 0.0 and float(ds.images.max()) == 1.0
    big = load_digits_images(image_size=28, channels=3)
    assert big.images.shape == (1797, 3, 28, 28) and torch.equal(big.labels, ds.labels)
    assert 0.0 <= float(big.images.min()) and float(big.images.max()) <= 1.0


# ----------------------------------------------------------------------------------------------- split, normalise
def test_stratified_split_keeps_proportions_and_is_seeded() -> None:
    labels = torch.tensor([0] * 500 + [1] * 300 + [2] * 200)
    train, val, test = stratified_split(labels, (0.8, 0.1, 0.1), seed=0)
    assert (len(train), len(val), len(test)) == (800, 100, 100)
    assert torch.equal(torch.cat([train, val, test]).sort().values, torch.arange(1000))  # a partition
    for part in (train, val, test):
        share = torch.bincount(labels[part], minlength=3).double() / len(part)
        assert torch.allclose(share, torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), atol=0.011)
    again = stratified_split(labels, (0.8, 0.1, 0.1), seed=0)
    assert all(torch.equal(a, b) for a, b in zip((train, val, test), again, strict=True))
    assert not torch.equal(stratified_split(labels, (0.8, 0.1, 0.1), seed=1)[0], train)
    two = stratified_split(labels.numpy(), (0.8, 0.2), seed=3)
    assert len(two) == 2 and [len(p) for p in two] == [800, 200]


def test_stratified_split_errors() -> None:
    with pytest.raises(ConfigError, match="summing to 1"):
        stratified_split(torch.arange(10) % 2, (0.8, 0.3))
    with pytest.raises(ConfigError, match="2 or 3 numbers"):
        stratified_split(torch.arange(10) % 2, (1.0,))
    with pytest.raises(DataError, match=r"class 7 has 2 example\(s\); a stratified 3-way split needs at least 3"):
        stratified_split(torch.tensor([0] * 20 + [7] * 2), (0.8, 0.1, 0.1))


def test_normalizer_uses_train_statistics_only() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(100, 3, 4, 4, generator=g)
    images[80:] = images[80:] * 0.1 + 0.9  # the held-out part looks different
    train, test = torch.arange(80), torch.arange(80, 100)
    norm = Normalizer.fit(images[train])
    want_mean = images[train].mean(dim=(0, 2, 3))
    want_std = images[train].permute(1, 0, 2, 3).reshape(3, -1).std(dim=1, unbiased=False)
    assert norm.mean == pytest.approx(want_mean.tolist(), abs=1e-6)
    assert norm.std == pytest.approx(want_std.tolist(), abs=1e-6)
    assert norm.mean != pytest.approx(Normalizer.fit(images).mean, abs=1e-3)
    z = norm(images[train])
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-5)
    assert float(norm(images[test]).mean()) > 1.0  # the test split is moved by the train statistics
    assert torch.allclose(norm.inverse(norm(images)), images, atol=1e-6)
    restored = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert restored == norm
    with pytest.raises(DataError, match=r"Normalizer for 3 channel\(s\) got images of shape \(2, 1, 4, 4\)"):
        norm(torch.zeros(2, 1, 4, 4))
    with pytest.raises(ConfigError, match="'mean' and 'std'"):
        Normalizer.from_dict({"mean": [0.5]})
    assert Normalizer.fit(torch.full((4, 1, 2, 2), 0.3)).std == [1.0]  # a constant channel is not divided by 0


# ----------------------------------------------------------------------------------------------- real data
def test_real_sign_language_folder() -> None:
    folder = shared_data() / "sign_language_mnist" / "images"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    ds = read_dataset(folder)
    assert len(ds) == 7172 and ds.num_classes == 24 and ds.images.shape[1:] == (1, 28, 28)
    assert ds.class_names[:3] == ["A", "B", "C"] and "J" not in ds.class_names and "Z" not in ds.class_names
    train, test = stratified_split(ds.labels, (0.8, 0.2), seed=0)
    assert len(train) + len(test) == 7172 and set(ds.labels[test].tolist()) == set(range(24))


def test_real_mnist_t10k_and_5k_csv() -> None:
    folder = shared_data() / "mnist"
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"{folder} has no t10k files")
    ds = read_dataset(folder, split="test")
    assert ds.images.shape == (10000, 1, 28, 28) and ds.class_names == [str(d) for d in range(10)]
    assert ds.class_counts()[1] == 1135  # the official test set's count of ones
    with pytest.raises(DataError, match="has no train images"):  # only the training labels are there
        read_dataset(folder)
    five_k = read_dataset(folder / "mnist_5k.csv.gz")  # no header, label last
    assert five_k.images.shape == (5000, 1, 28, 28) and five_k.class_counts() == [500] * 10
