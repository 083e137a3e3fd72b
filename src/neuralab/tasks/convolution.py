"""Task `convolution`: the course's convolution and pooling examples, computed from their equations.

1. 1-D: true convolution (with the flip), the course's dosing example [3 2 1] ∗ [1 2 3 4 5], and the sliding
   dot product (cross-correlation) [5 3 2 5 9 7] ⋆ [1 2 3]; which one `torch.nn.functional.conv1d` computes.
2. 2-D: the 5×5 binary image with the 3×3 X-shaped filter.
3. Sobel edges on a 6×6 step image and on a real digit (scikit-learn's digits), or on `--data IMAGE`.
4. Multi-channel convolution with bias: the course's RGB example (308 − 498 + 164 + 1 = −25).
5. Padding ('valid', 'same', explicit), stride, dilation and the output-size formula.
6. Max and average pooling on the course's 5×5 grid.
7. A CNN's forward pass on a digit: conv → ReLU → max-pool → flatten → dense → softmax.

Every hand-written result (`nn/conv.py`) is set beside the course's number and torch.nn.functional's; metrics.json
holds every checked value and a boolean per check. No training, so no model and no history.

`--data IMAGE.png|.jpg` runs the Sobel edges on that image (greyscale, longest side at most 256 px).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from neuralab.errors import DataError
from neuralab.nn import conv
from neuralab.tasks.base import TaskContext, register_task

F64 = torch.float64
MAX_SIDE = 256  # a user image is shrunk to this longest side: enough for edges, small enough for the report

# The course's examples and the numbers it prints.
PLAN, PATIENTS = [3, 2, 1], [1, 2, 3, 4, 5]
COURSE_PLAN_X_PATIENTS = [3, 8, 14, 20, 26, 14, 5]
CORR_A, CORR_B = [5, 3, 2, 5, 9, 7], [1, 2, 3]
COURSE_CORR_FIRST = [17, 22]  # the course works out the first two windows: 5+6+6 = 17, 3+4+15 = 22
BINARY_IMAGE = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]]
X_FILTER = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
COURSE_CONVOLVED_FEATURE = [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
RGB_PATCHES = {"R": [[0, 0, 0], [0, 156, 155], [0, 153, 154]],
               "G": [[0, 0, 0], [0, 167, 166], [0, 164, 165]],
               "B": [[0, 0, 0], [0, 163, 162], [0, 160, 161]]}
RGB_KERNELS = {"R": [[-1, -1, 1], [0, 1, -1], [0, 1, 1]],
               "G": [[1, 0, 0], [1, -1, -1], [1, 0, -1]],
               "B": [[0, 1, 1], [0, 1, 0], [1, -1, 1]]}
RGB_BIAS = 1
COURSE_RGB = {"R": 308, "G": -498, "B": 164, "output": -25}
POOL_GRID = [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]]
COURSE_MAX_POOL = [[3, 3, 3], [3, 3, 3], [3, 2, 3]]
STEP_IMAGE = [[10, 10, 10, 0, 0, 0]] * 6  # left half bright, right half dark: one vertical edge
COURSE_STEP_VERTICAL = [[0, 40, 40, 0]] * 4


def _t(values: Any) -> torch.Tensor:
    return torch.tensor(values, dtype=F64)


def _same(a: torch.Tensor | np.ndarray, b: Any, tol: float = 1e-9) -> bool:
    a, b = torch.as_tensor(np.asarray(a), dtype=F64), torch.as_tensor(np.asarray(b), dtype=F64)
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=0, atol=tol))


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def _nums(x: torch.Tensor | np.ndarray) -> Any:
    """A tensor as plain (nested) lists, integers where the values are whole."""
    arr = np.asarray(x, dtype=float)
    if np.all(np.isfinite(arr)) and np.allclose(arr, np.round(arr), rtol=0, atol=1e-9):
        return np.round(arr).astype(int).tolist()
    return np.round(arr, 6).tolist()


def _grid(x: torch.Tensor | np.ndarray) -> str:
    rows = np.atleast_2d(np.asarray(_nums(x)))
    width = max(len(f"{v:g}") for v in rows.ravel())
    return " ".join("[" + " ".join(f"{v:>{width}g}" for v in row) + "]" for row in rows)  # one row per [...]


def _show(ax: Any, image: Any, title: str, annotate: bool = True, cmap: str = "gray",
          scale: tuple[float, float] | None = None) -> None:
    """imshow with the values written in; signed maps on a red–blue scale centred on 0, others on `scale`."""
    arr = np.asarray(image, dtype=float)
    lim = float(np.abs(arr).max()) or 1.0
    if arr.min() < 0:
        cmap, vmin, vmax = "RdBu_r", -lim, lim
    else:
        vmin, vmax = scale or (float(arr.min()), float(arr.max()) if arr.max() > arr.min() else float(arr.min()) + 1)
    im = ax.imshow(arr, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if annotate:
        for (i, j), v in np.ndenumerate(arr):
            r, g, b, _ = im.cmap(im.norm(v))
            colour = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"  # legible on any cell
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=8, color=colour)


def _read_image(path: Path) -> tuple[torch.Tensor, str]:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise ImportError("reading --data images needs Pillow: pip install 'neuralab[vision]'") from exc
    try:
        with Image.open(path) as img:
            grey = img.convert("L")
            size = grey.size
            grey.thumbnail((MAX_SIDE, MAX_SIDE))
            pixels = np.asarray(grey, dtype=np.float64)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: Pillow cannot read this image ({exc}); give a PNG or JPEG file") from exc
    if min(pixels.shape) < 3:
        raise DataError(f"{path}: image is {pixels.shape[1]}x{pixels.shape[0]} pixels; Sobel needs at least 3x3")
    note = f"`{path.name}`, {size[0]}×{size[1]} px" + (
        f", shrunk to {pixels.shape[1]}×{pixels.shape[0]}" if pixels.shape[::-1] != size else "")
    return torch.from_numpy(pixels)[None, None], note  # (H, W) -> (1, 1, H, W)


def _digit() -> tuple[torch.Tensor, int]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    index = int(np.flatnonzero(digits.target == 3)[0])
    return torch.from_numpy(digits.images[index]).to(F64)[None, None], index  # (8, 8) -> (1, 1, 8, 8)


@register_task("convolution", "1-D and 2-D convolution, Sobel edges, padding, stride and pooling, checked to the digit",
               "the course's examples and a scikit-learn digit (embedded); `--data image.png` for edges",
               title="Convolution and pooling: the course's examples")
def run(ctx: TaskContext) -> None:
    rep = ctx.report
    path = ctx.data_path(".png", ".jpg", ".jpeg")
    user_image = None if path is None else _read_image(path)  # a bad file fails before any work is done
    checks: dict[str, bool] = {}
    values: dict[str, Any] = {}

    # ---------------------------------------------------------------------------------------- 1. 1-D
    rep.heading("1. 1-D: convolution (with the flip) and the sliding dot product")
    rep.code("convolution   (a ∗ v)[n] = Σ_k a[k]·v[n − k]     (flip v, slide, multiply, add)\n"
             "correlation   (a ⋆ v)[n] = Σ_k a[n + k]·v[k]     (slide, multiply, add: what a CNN layer does)\n"
             "a ∗ v = a ⋆ flip(v)")
    plan, patients = _t(PLAN), _t(PATIENTS)
    full = conv.convolve1d(plan, patients, "full")
    np_full = np.convolve(PLAN, PATIENTS, "full")
    # F.conv1d cross-correlates; flipping the kernel and padding M − 1 each side gives the full convolution.
    torch_full = F.conv1d(patients[None, None], plan.flip(0)[None, None], padding=len(PLAN) - 1)[0, 0]
    checks |= {"conv1d_full_course": _same(full, COURSE_PLAN_X_PATIENTS),
               "conv1d_full_numpy": _same(full, np_full), "conv1d_full_torch_flipped": _same(full, torch_full)}
    values["conv1d_plan_x_patients"] = {"course": COURSE_PLAN_X_PATIENTS, "neuralab": _nums(full),
                                        "numpy_convolve": _nums(np_full), "torch_conv1d_flipped": _nums(torch_full)}
    rep.text("The course's dosing example: patients [1 2 3 4 5] start treatment on days 0..4, each follows the "
             "plan [3 2 1] (3 doses the first day, 2 the next, 1 the last); the doses given each day are the "
             "convolution. 'full' mode: every day on which any plan is running.")
    rep.table(["", "result"], [["course", str(COURSE_PLAN_X_PATIENTS)], ["neuralab convolve1d", str(_nums(full))],
                               ["numpy.convolve", str(_nums(np_full))],
                               ["F.conv1d, kernel flipped, padding 2", str(_nums(torch_full))]])
    a, b = _t(CORR_A), _t(CORR_B)
    corr = conv.correlate1d(a, b, "valid")
    np_corr = np.correlate(CORR_A, CORR_B, "valid")
    torch_corr = F.conv1d(a[None, None], b[None, None])[0, 0]
    true_conv = conv.convolve1d(a, b, "valid")
    torch_unflipped = F.conv1d(patients[None, None], plan[None, None], padding=len(PLAN) - 1)[0, 0]
    checks |= {"correlation_course_first_two": _same(corr[:2], COURSE_CORR_FIRST),
               "correlation_numpy": _same(corr, np_corr), "correlation_torch_conv1d": _same(corr, torch_corr),
               "convolution_differs_from_correlation": not _same(true_conv, corr),
               "convolution_equals_correlation_with_flipped_kernel":
                   _same(true_conv, conv.correlate1d(a, b.flip(0), "valid"))}
    values["correlation"] = {"a": CORR_A, "b": CORR_B, "course_first_two": COURSE_CORR_FIRST, "neuralab": _nums(corr),
                             "numpy_correlate": _nums(np_corr), "torch_conv1d": _nums(torch_corr),
                             "true_convolution_valid": _nums(true_conv),
                             "torch_conv1d_unflipped_plan_patients": _nums(torch_unflipped)}
    rep.text(f"The sliding dot product of a = {CORR_A} with b = {CORR_B} ('valid': only where b fits inside a): "
             "5·1 + 3·2 + 2·3 = 17, 3·1 + 2·2 + 5·3 = 22, …")
    rep.table(["", "result"],
              [["course (first two windows)", f"{COURSE_CORR_FIRST} …"], ["neuralab correlate1d", str(_nums(corr))],
               ["numpy.correlate", str(_nums(np_corr))], ["F.conv1d", str(_nums(torch_corr))],
               ["true convolution a ∗ b (b flipped)", str(_nums(true_conv))]])
    rep.text("`torch.nn.functional.conv1d` (and conv2d, and every CNN layer) computes the correlation: it gives "
             f"{_nums(torch_corr)}, not the convolution {_nums(true_conv)}. To convolve with it, flip the kernel; "
             f"unflipped, the dosing example would give {_nums(torch_unflipped)} instead of "
             f"{COURSE_PLAN_X_PATIENTS}. For a learnt kernel the difference is immaterial: the network simply learns "
             "the flipped weights.")

    # ---------------------------------------------------------------------------------------- 2. 2-D
    rep.heading("2. 2-D: the binary image and the X filter")
    rep.code("Y[i, j] = Σ_m Σ_n X[i + m, j + n] · W[m, n]      (5×5 image, 3×3 filter, 'valid' → 3×3)")
    img, filt = _t(BINARY_IMAGE)[None, None], _t(X_FILTER)[None, None]  # (1, 1, 5, 5), (1, 1, 3, 3)
    feature = conv.conv2d(img, filt)[0, 0]
    torch_feature = F.conv2d(img, filt)[0, 0]
    checks |= {"binary_image_course": _same(feature, COURSE_CONVOLVED_FEATURE),
               "binary_image_torch": _same(feature, torch_feature)}
    values["binary_image"] = {"course": COURSE_CONVOLVED_FEATURE, "neuralab": _nums(feature),
                              "torch_conv2d": _nums(torch_feature)}
    rep.table(["course", "neuralab conv2d", "F.conv2d"],
              [[_grid(COURSE_CONVOLVED_FEATURE), _grid(feature), _grid(torch_feature)]])
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
    _show(axes[0], BINARY_IMAGE, "image 5×5")
    _show(axes[1], X_FILTER, "filter 3×3")
    _show(axes[2], feature, "convolved feature 3×3", cmap="viridis")
    rep.figure(fig, "binary_image", "The 5×5 binary image, the X filter and the convolved feature.")

    # ---------------------------------------------------------------------------------------- 3. Sobel
    rep.heading("3. Edges with Sobel kernels")
    rep.code("vertical edges   G_v = [[1 0 −1] [2 0 −2] [1 0 −1]]   (bright on the left → positive)\n"
             "horizontal edges G_h = G_vᵀ = [[1 2 1] [0 0 0] [−1 −2 −1]]   (bright on top → positive)\n"
             "magnitude = √(G_v² + G_h²)")
    step = _t(STEP_IMAGE)[None, None]  # (1, 1, 6, 6)
    gv, gh, _ = conv.sobel_edges(step, padding="valid")
    gv_t = F.conv2d(step, _t(conv.SOBEL_VERTICAL)[None, None])
    gh_t = F.conv2d(step, _t(conv.SOBEL_HORIZONTAL)[None, None])
    gv_top, gh_top, _ = conv.sobel_edges(step.transpose(-1, -2), padding="valid")
    flipped = conv.convolve2d(step[0, 0], _t(conv.SOBEL_VERTICAL))
    checks |= {"sobel_step_vertical": _same(gv[0, 0], COURSE_STEP_VERTICAL),
               "sobel_step_horizontal_zero": _same(gh[0, 0], np.zeros((4, 4))),
               "sobel_step_torch": _same(gv, gv_t) and _same(gh, gh_t),
               "sobel_transposed_step_horizontal": _same(gh_top[0, 0], np.transpose(COURSE_STEP_VERTICAL))
               and _same(gv_top[0, 0], np.zeros((4, 4))),
               "sobel_true_convolution_flips_sign": _same(flipped, -gv[0, 0])}
    values["sobel_step"] = {"image": STEP_IMAGE, "expected_vertical": COURSE_STEP_VERTICAL,
                            "vertical": _nums(gv[0, 0]), "horizontal": _nums(gh[0, 0]),
                            "torch_vertical": _nums(gv_t[0, 0]), "torch_horizontal": _nums(gh_t[0, 0]),
                            "true_convolution_vertical": _nums(flipped)}
    rep.text("A 6×6 image, left half 10, right half 0: one vertical edge down the middle. 'valid' padding gives 4×4 "
             "maps; the vertical-edge kernel answers 10·(1 + 2 + 1) = 40 wherever its window straddles the edge, "
             "the horizontal-edge kernel 0 everywhere. On the transposed image (top half bright) the roles swap.")
    rep.table(["expected vertical", "neuralab vertical", "F.conv2d vertical", "neuralab horizontal"],
              [[_grid(COURSE_STEP_VERTICAL), _grid(gv[0, 0]), _grid(gv_t[0, 0]), _grid(gh[0, 0])]])
    rep.text(f"True convolution flips the kernel, which turns this antisymmetric kernel into its negative: the "
             f"edge reads {_nums(flipped)[0]} per row instead of {_nums(gv[0, 0])[0]}.")
    fig, axes = plt.subplots(1, 3, figsize=(8, 2.9))
    _show(axes[0], STEP_IMAGE, "image 6×6")
    _show(axes[1], gv[0, 0], "vertical-edge map")
    _show(axes[2], gh[0, 0], "horizontal-edge map")
    rep.figure(fig, "sobel_step", "Sobel edge maps of the 6×6 step image ('valid', 4×4).")

    if user_image is None:
        picture, index = _digit()
        source = f"scikit-learn's digits, image #{index}, a handwritten 3 (8×8, grey levels 0–16)"
        padding = "same"  # the digits have a dark border, so zero padding adds no false edges
    else:
        picture, source = user_image
        padding = "valid"  # a photo's border is not dark: zero padding would draw a frame of false edges
    ev, eh, mag = conv.sobel_edges(picture, padding=padding)
    kernels = _t([conv.SOBEL_VERTICAL, conv.SOBEL_HORIZONTAL])[:, None]  # (2, 1, 3, 3)
    torch_edges = (F.conv2d(picture, kernels, padding=1) if padding == "same" else F.conv2d(picture, kernels))
    edge_diff = _diff(torch.cat([ev, eh], 1), torch_edges)
    checks["sobel_image_torch"] = edge_diff < 1e-9
    values["sobel_image"] = {"source": source, "shape": list(picture.shape), "padding": padding,
                             "max_abs_diff_vs_torch": edge_diff, "max_magnitude": float(mag.max())}
    rep.text(f"On a real image: {source}; padding '{padding}'. Largest difference from F.conv2d: {edge_diff:.1e}.")
    small = picture.shape[-1] <= 16
    fig, axes = plt.subplots(1, 4, figsize=(10, 2.9))
    _show(axes[0], picture[0, 0], "image", annotate=False)
    _show(axes[1], ev[0, 0], "vertical edges", annotate=False)
    _show(axes[2], eh[0, 0], "horizontal edges", annotate=False)
    _show(axes[3], mag[0, 0], "magnitude", annotate=False, cmap="magma" if small else "gray_r")
    rep.figure(fig, "sobel_image", "Sobel edge maps (red positive, blue negative) and the edge magnitude.")

    # ---------------------------------------------------------------------------------------- 4. RGB
    rep.heading("4. Several channels and a bias: the RGB example")
    rep.code("Y[i, j] = bias + Σ_c Σ_m Σ_n X[c, i + m, j + n] · W[c, m, n]     (c = R, G, B; one output channel)")
    x_rgb = _t([RGB_PATCHES[c] for c in "RGB"])[None]  # (1, 3, 3, 3): the zero-padded top-left patches
    w_rgb = _t([RGB_KERNELS[c] for c in "RGB"])[None]  # (1, 3, 3, 3): one output channel, three kernels
    out = float(conv.conv2d(x_rgb, w_rgb, _t([RGB_BIAS]))[0, 0, 0, 0])
    out_t = float(F.conv2d(x_rgb, w_rgb, _t([RGB_BIAS]))[0, 0, 0, 0])
    per = {c: float(conv.conv2d(x_rgb[:, i:i + 1], w_rgb[:, i:i + 1])[0, 0, 0, 0]) for i, c in enumerate("RGB")}
    # The same first output from the unpadded 2×2 corners, padding 1 done by conv2d itself.
    corner = float(conv.conv2d(x_rgb[:, :, 1:, 1:], w_rgb, _t([RGB_BIAS]), padding=1)[0, 0, 0, 0])
    checks |= {f"rgb_channel_{c}_course": per[c] == COURSE_RGB[c] for c in "RGB"}
    checks |= {"rgb_output_course": out == COURSE_RGB["output"], "rgb_output_torch": out == out_t,
               "rgb_output_from_padding": corner == COURSE_RGB["output"]}
    values["rgb"] = {"course": COURSE_RGB, "neuralab": {**per, "output": out}, "torch_conv2d_output": out_t,
                     "neuralab_padding_1_on_corners": corner}
    rep.table(["channel", "patch (zero-padded)", "kernel", "course", "neuralab"],
              [[c, _grid(RGB_PATCHES[c]), _grid(RGB_KERNELS[c]), COURSE_RGB[c], _nums(per[c])] for c in "RGB"]
              + [["bias", "", "", RGB_BIAS, RGB_BIAS], ["output", "", "", COURSE_RGB["output"], _nums(out)]])
    rep.text(f"308 − 498 + 164 + 1 = −25. F.conv2d with the same (1, 3, 3, 3) kernel and bias gives {_nums(out_t)}; "
             f"the corners without their zeros, padded by conv2d (padding=1), give {_nums(corner)} again.")

    # ---------------------------------------------------------------------------------------- 5. padding, stride
    rep.heading("5. Padding, stride, dilation and the output size")
    rep.code("out = ⌊(in + 2P − D·(K − 1) − 1) / S⌋ + 1          (D = 1: ⌊(in + 2P − K)/S⌋ + 1)\n"
             "'valid': P = 0      'same': out = ⌈in/S⌉, total pad = max((⌈in/S⌉ − 1)·S + K − in, 0), "
             "the extra one at bottom/right")
    gen = torch.Generator().manual_seed(ctx.seed_for("padding"))
    configs = [(7, 3, 1, 0, 1), (7, 3, 1, 1, 1), (7, 3, 2, 0, 1), (7, 3, 2, 1, 1), (8, 5, 3, 2, 1),
               (9, 3, 1, 2, 2), (7, 3, 1, "same", 1), (7, 4, 1, "same", 1), (7, 3, 2, "same", 1),
               (8, 4, 3, "same", 1), (6, 2, 2, "same", 1), (7, 3, 1, "valid", 1), (9, 3, 2, "same", 2)]
    rows, shape_rows = [], []
    pad_ok = True
    for n_in, k, s, p, d in configs:
        x = torch.randn(2, 3, n_in, n_in, generator=gen, dtype=F64)
        w = torch.randn(4, 3, k, k, generator=gen, dtype=F64)
        bias = torch.randn(4, generator=gen, dtype=F64)
        mine = conv.conv2d(x, w, bias, stride=s, padding=p, dilation=d)
        if p == "same":
            before, after = conv.same_padding(n_in, k, s, d)
            ref = F.conv2d(F.pad(x, (before, after, before, after)), w, bias, stride=s, dilation=d)
        else:
            ref = F.conv2d(x, w, bias, stride=s, padding=0 if p == "valid" else p, dilation=d)
        formula = conv.output_size(n_in, k, s, p, d)
        diff = _diff(mine, ref) if mine.shape == ref.shape else float("inf")
        ok = diff < 1e-9 and mine.shape[-1] == formula == ref.shape[-1]
        pad_ok &= ok
        pads = conv.same_padding(n_in, k, s, d) if p == "same" else (0, 0) if p == "valid" else (p, p)
        rows.append([n_in, k, s, str(p), d, f"{pads[0]} + {pads[1]}", formula, mine.shape[-1], ref.shape[-1],
                     f"{diff:.1e}"])
        shape_rows.append({"in": n_in, "kernel": k, "stride": s, "padding": p, "dilation": d, "pad": list(pads),
                           "formula": formula, "neuralab": mine.shape[-1], "torch": ref.shape[-1],
                           "max_abs_diff": diff, "ok": ok})
    x1 = torch.randn(1, 2, 7, 7, generator=gen, dtype=F64)
    w1 = torch.randn(3, 2, 4, 4, generator=gen, dtype=F64)
    with warnings.catch_warnings():  # torch warns that an even 'same' kernel makes it copy the input: expected
        warnings.simplefilter("ignore", UserWarning)
        torch_same = F.conv2d(x1, w1, padding="same")
    torch_same_diff = _diff(conv.conv2d(x1, w1, padding="same"), torch_same)
    checks |= {"padding_stride_output_size_and_values": pad_ok,
               "same_even_kernel_vs_torch_same": torch_same_diff < 1e-9,
               "output_size_course_5x5_3x3": conv.output_size(5, 3) == 3,
               "output_size_6x6_3x3": conv.output_size(6, 3) == 4}
    values["padding_stride"] = shape_rows
    values["same_even_kernel_vs_torch_same_max_abs_diff"] = torch_same_diff
    rep.table(["in", "K", "S", "P", "D", "pad before + after", "formula", "neuralab", "F.conv2d", "max |diff|"],
              rows, caption="Random 2×3×in×in inputs, 4 kernels with bias. For 'same', F.conv2d is given the "
                            "input padded by F.pad with the computed (before, after).")
    rep.text("torch's own padding='same' (stride 1 only) puts the odd zero at the bottom/right as well: with a 4×4 "
             f"kernel the two agree to {torch_same_diff:.1e}. Examples: 5×5 image, 3×3 filter → "
             f"{conv.output_size(5, 3)}×{conv.output_size(5, 3)}; 6×6, 3×3 → {conv.output_size(6, 3)}×"
             f"{conv.output_size(6, 3)}; 7×7, 3×3, stride 2, 'same' → {conv.output_size(7, 3, 2, 'same')}.")

    # ---------------------------------------------------------------------------------------- 6. pooling
    rep.heading("6. Max and average pooling")
    rep.code("max: Y[i, j] = max_{m,n} X[i·S + m, j·S + n]      avg: Y[i, j] = 1/K² Σ_{m,n} X[i·S + m, j·S + n]")
    grid = _t(POOL_GRID)[None, None]  # (1, 1, 5, 5)
    mx, av = conv.max_pool2d(grid, 3, stride=1)[0, 0], conv.avg_pool2d(grid, 3, stride=1)[0, 0]
    mx_t, av_t = F.max_pool2d(grid, 3, stride=1)[0, 0], F.avg_pool2d(grid, 3, stride=1)[0, 0]
    xp = torch.randn(2, 3, 9, 9, generator=gen, dtype=F64)
    pool_diff = max(_diff(conv.max_pool2d(xp, k, s, p), F.max_pool2d(xp, k, s, p))
                    + _diff(conv.avg_pool2d(xp, k, s, p), F.avg_pool2d(xp, k, s, p))
                    for k, s, p in [(2, 2, 0), (3, 1, 1), (3, 2, 1), (2, 1, 0)])
    checks |= {"max_pool_course": _same(mx, COURSE_MAX_POOL), "max_pool_torch": _same(mx, mx_t),
               "avg_pool_torch": _same(av, av_t), "pooling_random_vs_torch": pool_diff < 1e-9}
    values["pooling"] = {"grid": POOL_GRID, "course_max": COURSE_MAX_POOL, "max": _nums(mx), "torch_max": _nums(mx_t),
                         "avg": _nums(av), "avg_times_9": _nums(av * 9), "torch_avg": _nums(av_t),
                         "random_max_abs_diff_vs_torch": pool_diff}
    rep.table(["course max-pool", "neuralab max-pool", "F.max_pool2d", "neuralab avg-pool", "F.avg_pool2d"],
              [[_grid(COURSE_MAX_POOL), _grid(mx), _grid(mx_t), _grid(av.round(decimals=4)),
                _grid(av_t.round(decimals=4))]],
              caption="3×3 window, stride 1, on the course's 5×5 grid.")
    rep.text(f"The average pool as ninths: {_nums(av * 9)} / 9. On random inputs with strides 1–2 and padding 0–1 "
             f"the hand-written pools match torch to {pool_diff:.1e}.")
    fig, axes = plt.subplots(1, 3, figsize=(8, 2.9))
    scale = (0.0, float(np.max(POOL_GRID)))  # one colour scale for the grid and both pools
    _show(axes[0], POOL_GRID, "5×5 input", cmap="Blues", scale=scale)
    _show(axes[1], mx, "max-pool 3×3, stride 1", cmap="Blues", scale=scale)
    _show(axes[2], av, "avg-pool 3×3, stride 1", cmap="Blues", scale=scale)
    rep.figure(fig, "pooling", "The course's grid and its 3×3 max and average pools (stride 1).")

    # ---------------------------------------------------------------------------------------- 7. forward pass
    rep.heading("7. A CNN's forward pass: conv → ReLU → pool → flatten → dense → softmax")
    digit, _ = _digit()
    w_dense = torch.randn(10, 2 * 4 * 4, generator=gen, dtype=F64) * 0.1  # untrained: 10 classes from 32 features
    b_dense = torch.zeros(10, dtype=F64)
    stages: list[tuple[str, torch.Tensor, torch.Tensor]] = []
    h, h_t = conv.conv2d(digit, kernels, padding="same"), F.conv2d(digit, kernels, padding="same")
    stages.append(("conv 2 Sobel kernels, 'same'", h, h_t))
    h, h_t = conv.relu(h), F.relu(h_t)
    stages.append(("ReLU", h, h_t))
    h, h_t = conv.max_pool2d(h, 2), F.max_pool2d(h_t, 2)
    stages.append(("max-pool 2×2", h, h_t))
    h, h_t = conv.flatten(h), torch.flatten(h_t, 1)  # (1, 2, 4, 4) -> (1, 32)
    stages.append(("flatten", h, h_t))
    h, h_t = h @ w_dense.T + b_dense, F.linear(h_t, w_dense, b_dense)
    stages.append(("dense 32 → 10", h, h_t))
    p, p_t = conv.softmax(h), F.softmax(h_t, dim=-1)
    stages.append(("softmax", p, p_t))
    stage_diff = {name: _diff(a_, b_) for name, a_, b_ in stages}
    huge = torch.tensor([[1000.0, 1001.0, 1002.0]], dtype=F64)
    checks |= {"forward_pass_vs_torch": max(stage_diff.values()) < 1e-9,
               "softmax_sums_to_one": abs(float(p.sum()) - 1) < 1e-12,
               "softmax_large_logits_finite": _same(conv.softmax(huge), F.softmax(huge, dim=-1))}
    values["forward_pass"] = {"shapes": {name: list(a_.shape) for name, a_, _ in stages},
                              "max_abs_diff_vs_torch": stage_diff, "probabilities": _nums(p[0])}
    rep.table(["stage", "shape", "max |neuralab − torch|"],
              [["input digit", str(tuple(digit.shape)), "—"]]
              + [[name, str(tuple(a_.shape)), f"{stage_diff[name]:.1e}"] for name, a_, _ in stages])
    rep.text("The dense layer's weights are random (nothing is trained here), so the probabilities mean nothing yet; "
             f"they are positive and sum to {float(p.sum()):.12f}. Softmax subtracts the largest logit first, so "
             "logits of 1000 and more give finite probabilities.")

    failed = sorted(k for k, ok in checks.items() if not ok)
    rep.add_metrics(**values, checks=checks, checks_total=len(checks), checks_passed=len(checks) - len(failed),
                    checks_failed=failed)
    rep.say(f"1-D: [3 2 1] ∗ [1 2 3 4 5] = {_nums(full)}; [5 3 2 5 9 7] ⋆ [1 2 3] = {_nums(corr)} "
            "(F.conv1d cross-correlates)")
    terms = " ".join(f"{'-' if v < 0 else '+'} {abs(_nums(v))}" for v in [per["G"], per["B"], RGB_BIAS])
    rep.say(f"2-D: binary image → {_nums(feature)}; RGB: {_nums(per['R'])} {terms} = {_nums(out)}")
    rep.say(f"Sobel on the 6×6 step: {_nums(gv[0, 0])[0]} per row; max-pool {_nums(mx)}, avg-pool ×9 {_nums(av * 9)}")
    rep.say(f"checks passed: {len(checks) - len(failed)}/{len(checks)}"
            + (f" (failed: {', '.join(failed)})" if failed else ""))
