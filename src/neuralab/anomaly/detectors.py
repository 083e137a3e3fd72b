"""Anomaly detectors for vital signs with one interface: `fit(records)`, `score(record)`, `detect(record)`.

    lstm-autoencoder    reconstruction MAE of the course's LSTM autoencoder over non-overlapping windows
    convlstm-detector   MAE of the ConvLSTM's prediction of the next correlation map (Albattah & Rassam 2022)
    ar                  per-channel AR(p) one-step residuals (least squares with statsmodels), |r| / std(r)
    iforest             Isolation Forest (scikit-learn) on [x_t, x_t − x_{t−1}, x_t − rolling mean]

Every detector is trained on normal data only (no labels), scores every sample (T,) and every channel (T, C),
and fits its thresholds on held-out normal records (15%, or the last 15% of a single record). A trained detector
is a model directory: `config.json` (detector name, params, channels, scaler, thresholds under "extra") and
`model.safetensors` (the network's weights, or the AR coefficients, or the Isolation Forest's training sample —
the forest is refitted from it with its fixed seed on load, so nothing is pickled).

Shape legend: T samples, C channels, L window, J correlation-map positions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralab.anomaly.thresholds import Threshold, channel_thresholds, merge_events
from neuralab.anomaly.windows import (
    Scaler,
    common_channels,
    map_sequences,
    signature_maps,
    sliding_windows,
    tiling_windows,
)
from neuralab.data.vitals import VitalsRecord
from neuralab.errors import ConfigError, DataError

DETECTORS = ("lstm-autoencoder", "convlstm-detector", "ar", "iforest")

# default parameters per detector (samples, not seconds: a 1-Hz stream and an hourly ICU grid differ)
DEFAULTS: dict[str, dict[str, Any]] = {
    "lstm-autoencoder": {"window": 30, "stride": 5, "units": [64, 32], "dropout": 0.2, "batch_size": 64,
                         "lr": 1e-3, "max_windows": 20000},
    "convlstm-detector": {"scales": [5, 15, 30], "step": 5, "frames": 4, "filters": 8, "batch_size": 64,
                          "lr": 1e-3, "max_windows": 20000, "mode": "predict"},
    "ar": {"order": 5},
    "iforest": {"roll": 30, "n_estimators": 100, "max_rows": 20000},
}
COMMON = {"k": 3.0, "threshold": "dynamic", "q": 99.5, "fixed": None, "merge_gap": 0, "val_fraction": 0.15,
          "smooth": 1}


@dataclass
class Scores:
    """Scores of one record: `sample` (T,) and `channel` (T, C) over `channels` (higher = more anomalous)."""

    sample: np.ndarray
    channel: np.ndarray
    channels: list[str]


class Detector:
    """Base class: scaling, validation split, thresholds, events, saving. Subclasses implement `_fit`,
    `_score(x) -> (sample (T,), channel (T, C))`, `_arrays()` / `_load_arrays()`."""

    name = ""

    def __init__(self, params: dict[str, Any] | None = None, channels: Sequence[str] | None = None) -> None:
        given = dict(params or {})
        allowed = {**DEFAULTS[self.name], **COMMON}
        unknown = sorted(set(given) - set(allowed))
        if unknown:
            raise ConfigError(f"detector {self.name!r} does not take parameter(s) {', '.join(unknown)}; it takes "
                              f"{', '.join(sorted(allowed))}")
        self.params = {**allowed, **given}
        self.channels = list(channels) if channels else []
        self.scaler: Scaler | None = None
        self.threshold = Threshold(self.params["threshold"], float(self.params["k"]), float(self.params["q"]),
                                   None if self.params["fixed"] is None else float(self.params["fixed"]))
        self.channel_threshold: np.ndarray | None = None
        self.history: list[dict] = []

    # ------------------------------------------------------------------------------------------ public API
    def fit(self, records: Sequence[VitalsRecord], *, epochs: int = 10, device: str = "cpu", seed: int = 0,
            progress: bool = False, precision: str = "auto") -> Detector:
        """Train on normal records, then fit the thresholds on held-out normal data.

        `precision` is the Trainer's (`auto|fp32|bf16|fp16`) for the neural detectors; it is not saved with the
        detector (scoring runs in float32)."""
        records = list(records)
        self.train_precision = precision
        if not records:
            raise DataError("no training records")
        self.channels = common_channels(records, wanted=self.channels or None)
        records = [r for r in records if all(c in r.channels for c in self.channels)]
        train, val = _split(records, float(self.params["val_fraction"]), seed)
        self.scaler = Scaler.fit(train, self.channels)
        series = [self.scaler.transform(r)[0] for r in train]
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        self._fit(series, epochs=epochs, device=device, seed=seed, progress=progress)
        val_scores = [self._smooth(*self._score(self.scaler.transform(r)[0])) for r in val]
        self.threshold.fit(np.concatenate([s for s, _ in val_scores]))
        self.channel_threshold = channel_thresholds(np.concatenate([c for _, c in val_scores]),
                                                    float(self.params["k"]))
        return self

    def score(self, record: VitalsRecord) -> Scores:
        """Per-sample and per-channel scores of `record` (gaps score NaN)."""
        if self.scaler is None:
            raise ConfigError(f"detector {self.name!r} is not trained; call fit() or load a model directory")
        x, gap = self.scaler.transform(record)
        sample, channel = self._smooth(*self._score(x))
        channel = channel.astype(np.float64)
        channel[gap] = np.nan
        sample = np.where(gap.all(axis=1), np.nan, sample)
        return Scores(sample, channel, list(self.channels))

    def detect(self, record: VitalsRecord, scores: Scores | None = None) -> list[dict]:
        """Events (start, end, channels, peak score) where the score exceeds the threshold."""
        s = scores or self.score(record)
        return merge_events(s.sample, self.threshold.value, s.channel, self.channel_threshold, s.channels,
                            max_gap=int(self.params["merge_gap"]))

    def save(self, directory: str | Path) -> Path:
        """Write the detector as a model directory (config.json + model.safetensors)."""
        extra = {"detector": self.name, "params": self.params, "channels": self.channels,
                 "scaler": self.scaler.as_dict(), "threshold": self.threshold.as_dict(),
                 "channel_threshold": [float(v) for v in self.channel_threshold], "history": self.history}
        model = getattr(self, "model", None)
        if model is not None:
            from neuralab.train.checkpoint import save_model

            return save_model(model, directory, extra=extra)
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: np.ascontiguousarray(v) for k, v in self._arrays().items()}, str(directory / "model.safetensors"))
        meta = {"model": None, "config": {}, "extra": extra}
        (directory / "config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return directory

    def _smooth(self, sample: np.ndarray, channel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centred moving average of the scores over `smooth` samples (1: none): isolated exceedances of noisy
        scores then stop raising an alarm each, while a sustained departure still does."""
        w = int(self.params["smooth"])
        if w <= 1:
            return sample, channel
        from scipy.ndimage import uniform_filter1d

        return (uniform_filter1d(np.asarray(sample, np.float64), w, mode="nearest"),
                uniform_filter1d(np.asarray(channel, np.float64), w, axis=0, mode="nearest"))

    # ------------------------------------------------------------------------------------------ subclasses
    def _fit(self, series: list[np.ndarray], *, epochs: int, device: str, seed: int, progress: bool) -> None:
        raise NotImplementedError

    def _score(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        pass


def _split(records: list[VitalsRecord], fraction: float, seed: int) -> tuple[list, list]:
    if len(records) >= 4:
        order = np.random.default_rng(seed).permutation(len(records))
        n_val = max(1, int(round(fraction * len(records))))
        return [records[i] for i in order[n_val:]], [records[i] for i in order[:n_val]]
    # one to three records: the last `fraction` of each is the validation part
    train, val = [], []
    for r in records:
        cut = int(len(r) * (1 - fraction))
        train.append(_slice(r, 0, cut))
        val.append(_slice(r, cut, len(r)))
    return train, val


def _slice(r: VitalsRecord, a: int, b: int) -> VitalsRecord:
    out = r.copy()
    out.values, out.seconds, out.faults = r.values[a:b], r.seconds[a:b], r.faults[a:b]
    out.imputed = r.imputed[a:b]
    out.truth = None
    return out


# ---------------------------------------------------------------------------------------------- neural helpers
def _train_model(det: Detector, model: torch.nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, device: str,
                 seed: int, progress: bool, loss: str = "mse") -> None:
    from neuralab.train.trainer import Trainer, make_loader

    if len(x) == 0:
        raise DataError(f"detector {det.name!r}: the training records are too short for one window")
    rng = np.random.default_rng(seed)
    cap = int(det.params["max_windows"])
    if len(x) > cap:
        keep = np.sort(rng.choice(len(x), cap, replace=False))
        x, y = x[keep], y[keep]
    loss_fn = torch.nn.functional.mse_loss if loss == "mse" else torch.nn.functional.l1_loss
    trainer = Trainer(model, loss_fn, lr=float(det.params["lr"]), device=device, progress=progress, seed=seed,
                      clip_norm=1.0, precision=getattr(det, "train_precision", "auto"))
    hist = trainer.fit(make_loader(torch.from_numpy(np.ascontiguousarray(x)),
                                   torch.from_numpy(np.ascontiguousarray(y)),
                                   batch_size=int(det.params["batch_size"]), shuffle=True), epochs=epochs)
    det.model = trainer.model.cpu().eval()
    det.history = [{k: float(v) for k, v in row.items() if isinstance(v, int | float)}
                   for row in hist.records if isinstance(row, dict)]


@torch.inference_mode()
def _predict(model: torch.nn.Module, x: np.ndarray, batch: int = 4096) -> np.ndarray:
    model.eval()
    out = [model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch]))).numpy() for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.empty((0,), np.float32)


class LSTMAutoencoderDetector(Detector):
    """Reconstruction MAE of the course's LSTM autoencoder.

    Trained on windows of `window` samples every `stride` samples; scores each sample by the absolute
    reconstruction error of the non-overlapping window that covers it (one forward pass per window)."""

    name = "lstm-autoencoder"

    def _build(self):
        from neuralab.models.registry import get_model

        p = self.params
        return get_model("lstm-autoencoder", n_features=len(self.channels), seq_len=int(p["window"]),
                         units=tuple(p["units"]), dropout=float(p["dropout"]))

    def _fit(self, series, *, epochs, device, seed, progress):
        L, stride = int(self.params["window"]), int(self.params["stride"])
        wins = [sliding_windows(x, L, stride) for x in series]
        x = np.concatenate(wins).astype(np.float32)
        _train_model(self, self._build(), x, x, epochs, device, seed, progress)

    def _score(self, x):
        L = int(self.params["window"])
        wins, T = tiling_windows(x, L)  # (N, L, C)
        err = np.abs(_predict(self.model, wins) - wins).reshape(-1, x.shape[1])[:T]  # (T, C)
        return err.mean(axis=1), err


class ConvLSTMMapDetector(Detector):
    """Albattah & Rassam's correlation-based ConvLSTM detector.

    Frames: every `step` samples, one S x C x C signature map (`signature_maps`: the mean products of every
    pair of scaled vital signs over the last w samples, for each scale w in `scales`). mode="predict" (default):
    the ConvLSTM reads the K = `frames` maps before map j and predicts map j; mode="reconstruct" (MSCRED): an
    encoder-ConvLSTM-decoder reads maps j-K+1..j and reconstructs map j through a half-resolution bottleneck.
    The anomaly score of the `step` samples of map j is the MAE of that output (per channel: the mean error of
    its row and column).

    Measured on the simulator (`benchmarks/vitals_real.py sim --smooth 15 --merge-gap 60`, 24 h of test streams,
    predict / reconstruct; the LSTM autoencoder in brackets): 3 epochs, event F1 0.424 / 0.533 (0.493), contextual
    recall 0.3 / 0.6 (1.0); 10 epochs, event F1 0.530 / 0.565 (0.460), contextual recall 0.4 / 1.0 (1.0), false
    alarms 0.71 / 1.92 per hour (2.17). On PhysioNet 2012's hourly grid (4 channels) both stay near event F1 0.085.
    "predict" stays the default: it is the paper's model."""

    name = "convlstm-detector"

    def _build(self):
        from neuralab.models.registry import get_model

        p = self.params
        return get_model("convlstm-detector", n_channels=len(self.channels), scales=len(p["scales"]),
                         frames=int(p["frames"]), filters=int(p["filters"]), mode=str(p.get("mode", "predict")))

    def _inputs(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        maps, _ = signature_maps(x, [int(w) for w in self.params["scales"]], int(self.params["step"]))
        current = self.params.get("mode", "predict") == "reconstruct"  # MSCRED reads map j to reconstruct it
        return map_sequences(maps, int(self.params["frames"]), include_current=current), maps

    def _fit(self, series, *, epochs, device, seed, progress):
        pairs = [self._inputs(x) for x in series]
        xs = np.concatenate([a for a, _ in pairs]).astype(np.float32)
        ys = np.concatenate([b for _, b in pairs]).astype(np.float32)
        _train_model(self, self._build(), xs, ys, epochs, device, seed, progress)

    def _score(self, x):
        seqs, maps = self._inputs(x)
        err = np.abs(_predict(self.model, seqs) - maps)  # (J, S, C, C)
        step = int(self.params["step"])
        sample = np.repeat(err.mean(axis=(1, 2, 3)), step)[: len(x)]
        per_ch = 0.5 * (err.mean(axis=(1, 3)) + err.mean(axis=(1, 2)))  # row and column of each channel: (J, C)
        return sample, np.repeat(per_ch, step, axis=0)[: len(x)]


# ---------------------------------------------------------------------------------------------- baselines
class ARDetector(Detector):
    """Per-channel AR(p): x_t = c + Σ_k φ_k x_{t−k} + e_t, fitted by least squares (statsmodels OLS on the lag
    matrix of all training records, the conditional MLE statsmodels' AutoReg computes for one series). Score:
    |e_t| / std(e) per channel; per sample, the largest over channels (a fault is often in one channel)."""

    name = "ar"

    def _fit(self, series, *, epochs, device, seed, progress):
        import statsmodels.api as sm

        p = int(self.params["order"])
        C = series[0].shape[1]
        self.coef = np.zeros((C, p + 1))
        self.sigma = np.ones(C)
        for c in range(C):
            X, y = [], []
            for s in series:
                if len(s) <= p:
                    continue
                lags = np.lib.stride_tricks.sliding_window_view(s[:, c], p + 1)  # (T−p, p+1), oldest first
                X.append(lags[:, :-1][:, ::-1])  # x_{t−1}, ..., x_{t−p}
                y.append(lags[:, -1])
            if not X:
                raise DataError(f"AR({p}): every training record is shorter than {p + 1} samples")
            res = sm.OLS(np.concatenate(y), sm.add_constant(np.concatenate(X), has_constant="add")).fit()
            self.coef[c] = res.params
            self.sigma[c] = max(float(np.std(res.resid)), 1e-6)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """(T, C) one-step residuals (0 for the first p samples)."""
        p = self.coef.shape[1] - 1
        T, C = x.shape
        pred = np.tile(self.coef[:, 0], (T, 1))
        for k in range(1, p + 1):
            pred[k:] += self.coef[:, k] * x[:-k]
        r = x - pred
        r[:p] = 0.0
        return r

    def _score(self, x):
        z = np.abs(self.residuals(x)) / self.sigma
        return z.max(axis=1), z

    def _arrays(self):
        return {"coef": self.coef, "sigma": self.sigma}

    def _load_arrays(self, arrays):
        self.coef, self.sigma = arrays["coef"], arrays["sigma"]


class IsolationForestDetector(Detector):
    """Isolation Forest on per-sample features [x_t, x_t − x_{t−1}, x_t − mean(x_{t−w+1..t})] (3C columns).
    Per-channel attribution: the channel's largest |feature|."""

    name = "iforest"

    def _features(self, x: np.ndarray) -> np.ndarray:
        w = int(self.params["roll"])
        d = np.diff(x, axis=0, prepend=x[:1])
        cs = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0, dtype=np.float64)])
        t = np.arange(1, len(x) + 1)
        lo = np.maximum(t - w, 0)
        mean = (cs[t] - cs[lo]) / (t - lo)[:, None]
        return np.concatenate([x, d, x - mean], axis=1).astype(np.float32)

    def _forest(self):
        from sklearn.ensemble import IsolationForest

        f = IsolationForest(n_estimators=int(self.params["n_estimators"]), random_state=0, n_jobs=1)
        return f.fit(self.sample)

    def _fit(self, series, *, epochs, device, seed, progress):
        feats = np.concatenate([self._features(x) for x in series])
        cap = int(self.params["max_rows"])
        if len(feats) > cap:
            feats = feats[np.sort(np.random.default_rng(seed).choice(len(feats), cap, replace=False))]
        self.sample = feats
        self.forest = self._forest()

    def _score(self, x):
        f = self._features(x)
        C = x.shape[1]
        per_ch = np.abs(f.reshape(len(x), 3, C)).max(axis=1)
        return -self.forest.score_samples(f), per_ch

    def _arrays(self):
        return {"sample": self.sample}

    def _load_arrays(self, arrays):
        self.sample = arrays["sample"]
        self.forest = self._forest()


_CLASSES: dict[str, type[Detector]] = {c.name: c for c in (LSTMAutoencoderDetector, ConvLSTMMapDetector,
                                                           ARDetector, IsolationForestDetector)}


def make_detector(name: str, params: dict[str, Any] | None = None,
                  channels: Sequence[str] | None = None) -> Detector:
    """A new, untrained detector by name (see `DETECTORS`)."""
    if name not in _CLASSES:
        raise ConfigError(f"unknown detector {name!r}; expected one of {', '.join(DETECTORS)}")
    return _CLASSES[name](params, channels)


def load_detector(directory: str | Path) -> Detector:
    """Rebuild a detector written by `Detector.save` (no pickle: JSON + safetensors)."""
    directory = Path(directory)
    cfg = directory / "config.json"
    if not cfg.is_file() or not (directory / "model.safetensors").is_file():
        raise DataError(f"{str(directory)!r} is not a detector directory: expected config.json and "
                        "model.safetensors (written by `neuralab vitals train`)")
    try:
        meta = json.loads(cfg.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{cfg}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    extra = meta.get("extra") or {}
    if extra.get("detector") not in _CLASSES:
        raise DataError(f"{cfg}: not an anomaly detector (extra.detector is {extra.get('detector')!r}; expected "
                        f"one of {', '.join(DETECTORS)})")
    det = make_detector(extra["detector"], extra["params"], extra["channels"])
    det.scaler = Scaler.from_dict(extra["scaler"])
    det.threshold = Threshold(**extra["threshold"])
    det.channel_threshold = np.asarray(extra["channel_threshold"], np.float64)
    det.history = extra.get("history", [])
    if meta.get("model"):
        from neuralab.train.checkpoint import load_model

        det.model = load_model(directory)
    else:
        from safetensors.numpy import load_file

        det._load_arrays(load_file(str(directory / "model.safetensors")))
    return det
