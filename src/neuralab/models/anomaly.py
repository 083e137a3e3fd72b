"""Anomaly-detection networks for vital signs (WBAN), and the ConvLSTM of the speed reference.

    lstm-autoencoder    the course's model: LSTM 64 -> Dropout 0.2 -> LSTM 32 -> RepeatVector(T) -> LSTM 64
                        -> Dropout 0.2 -> TimeDistributed Dense(F); trained to reconstruct normal windows.
    convlstm-detector   after Albattah & Rassam (2022): a window is turned into a sequence of K channel-by-channel
                        correlation maps (one S-scale "signature matrix" per sub-window, see
                        `neuralab.anomaly.windows.signature_maps`); a ConvLSTM reads the K maps and a 3x3
                        convolution predicts the next map. The MAE of that prediction is the anomaly score.
    convlstm            the bench model of `shared/anchors/keras_reference.py`: ConvLSTM 16 filters 3x3 over
                        10 frames of 16x16x1 -> Flatten -> Dense 1.

Shape legend: B batch, T steps, F features (channels); frames (B, K, S, C, C) with K maps of S scales over C
channels; the bench frames (B, T, 1, 16, 16) in our (B, T, C, H, W) layout (Keras: (B, T, H, W, C)).

References:
    M. Albattah, M. A. Rassam, "A correlation-based anomaly detection model for wireless body area networks
    using convolutional long short-term memory neural network", Sensors 22(5):1951, 2022.
    C. Zhang et al., "A deep neural network for unsupervised anomaly detection and diagnosis in multivariate
    time series data" (MSCRED, signature matrices), AAAI 2019. Course topic "Healthcare anomaly detection".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from neuralab.models.registry import register_model
from neuralab.nn.convlstm import ConvLSTM
from neuralab.nn.rnn import RepeatVector, TimeDistributed


def _positive(cfg, *names: str) -> None:
    for name in names:
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")


# --------------------------------------------------------------------------------------------- LSTM autoencoder
@dataclass
class LSTMAutoencoderConfig:
    """Configuration of `lstm-autoencoder`.

    Attributes:
        n_features: F, channels per step.
        seq_len: T of `example_input` (the network itself reconstructs windows of any length).
        units: (outer, bottleneck) LSTM sizes, (64, 32) on the course's slide.
        dropout: dropout after each outer LSTM (0.2 on the slide).
    """

    n_features: int = 5
    seq_len: int = 30
    units: tuple[int, int] = (64, 32)
    dropout: float = 0.2

    def __post_init__(self) -> None:
        _positive(self, "n_features", "seq_len")
        if len(self.units) != 2 or min(self.units) < 1:
            raise ValueError(f"units must be two positive sizes (outer, bottleneck), got {self.units}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        return torch.randn(batch_size, self.seq_len, self.n_features)


class LSTMAutoencoder(nn.Module):
    """The course's LSTM autoencoder (torch's fused `nn.LSTM` kernels).

    Shape:
        x (B, T, F) -> reconstruction (B, T, F).
    """

    def __init__(self, cfg: LSTMAutoencoderConfig) -> None:
        super().__init__()
        outer, inner = cfg.units
        self.enc1 = nn.LSTM(cfg.n_features, outer, batch_first=True)
        self.drop1 = nn.Dropout(cfg.dropout)
        self.enc2 = nn.LSTM(outer, inner, batch_first=True)
        self.dec = nn.LSTM(inner, outer, batch_first=True)
        self.drop2 = nn.Dropout(cfg.dropout)
        self.out = TimeDistributed(nn.Linear(outer, cfg.n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop1(self.enc1(x)[0])  # (B, T, outer)
        _, (code, _) = self.enc2(h)  # last hidden state: (1, B, inner)
        z = RepeatVector(x.shape[1])(code[0])  # (B, T, inner)
        return self.out(self.drop2(self.dec(z)[0]))  # (B, T, outer) -> (B, T, F)


@register_model("lstm-autoencoder", LSTMAutoencoderConfig,
                "LSTM autoencoder 64-32-RepeatVector-64 + Dense (the course's healthcare-anomaly slide)")
def build_lstm_autoencoder(cfg: LSTMAutoencoderConfig) -> LSTMAutoencoder:
    return LSTMAutoencoder(cfg)


# --------------------------------------------------------------------------------------------- ConvLSTM detector
@dataclass
class ConvLSTMDetectorConfig:
    """Configuration of `convlstm-detector`.

    Attributes:
        n_channels: C, vital signs (each map is C x C).
        scales: S, correlation scales (sub-window lengths) stacked as map channels.
        frames: K, maps read per output.
        filters: ConvLSTM filters.
        kernel_size: ConvLSTM and output kernel (odd).
        mode: "predict" (Albattah & Rassam: the K maps before map j predict map j) or "reconstruct" (MSCRED, Zhang
            et al. 2019: maps j-K+1..j pass a strided convolutional encoder, the ConvLSTM and a transposed-
            convolution decoder, which reconstructs map j through the half-resolution bottleneck).
        encoder_channels: channels of the encoder's and decoder's outer layer ("reconstruct").
    """

    n_channels: int = 7
    scales: int = 3
    frames: int = 4
    filters: int = 16
    kernel_size: int = 3
    mode: str = "predict"
    encoder_channels: int = 16

    def __post_init__(self) -> None:
        _positive(self, "n_channels", "scales", "frames", "filters", "encoder_channels")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {self.kernel_size}")
        if self.mode not in ("predict", "reconstruct"):
            raise ValueError(f"mode must be 'predict' or 'reconstruct', got {self.mode!r}")

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        return torch.randn(batch_size, self.frames, self.scales, self.n_channels, self.n_channels)


class ConvLSTMDetector(nn.Module):
    """mode="predict": ConvLSTM over K correlation maps, then a convolution predicting map K+1.
    mode="reconstruct": each of the K maps encoded (conv → SELU → stride-2 conv → SELU: C x C -> ⌈C/2⌉ x ⌈C/2⌉),
    the ConvLSTM over the encoded maps, and a decoder (transposed stride-2 conv → SELU → conv, cropped to C x C)
    reconstructing the last map from H_K.

    Shape:
        maps (B, K, S, C, C) -> predicted next map, or reconstructed last map, (B, S, C, C).
    """

    def __init__(self, cfg: ConvLSTMDetectorConfig) -> None:
        super().__init__()
        k, pad, S, E = cfg.kernel_size, cfg.kernel_size // 2, cfg.scales, cfg.encoder_channels
        self.mode = cfg.mode
        if cfg.mode == "reconstruct":
            self.encoder = nn.Sequential(nn.Conv2d(S, E, k, padding=pad), nn.SELU(),
                                         nn.Conv2d(E, cfg.filters, k, stride=2, padding=pad), nn.SELU())
            self.convlstm = ConvLSTM(cfg.filters, cfg.filters, k)
            self.head = nn.Sequential(
                nn.ConvTranspose2d(cfg.filters, E, k, stride=2, padding=pad, output_padding=1), nn.SELU(),
                nn.Conv2d(E, S, k, padding=pad))
        else:
            self.convlstm = ConvLSTM(S, cfg.filters, k)
            self.head = nn.Conv2d(cfg.filters, S, k, padding=pad)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        if self.mode == "predict":
            return self.head(self.convlstm(maps))  # H_K (B, filters, C, C) -> (B, S, C, C)
        B, K, S, C, _ = maps.shape
        z = self.encoder(maps.reshape(B * K, S, C, C))  # (B·K, filters, ⌈C/2⌉, ⌈C/2⌉)
        h = self.convlstm(z.reshape(B, K, *z.shape[1:]))  # H_K
        return self.head(h)[..., :C, :C]  # (B, S, 2⌈C/2⌉, 2⌈C/2⌉) cropped to (B, S, C, C)


@register_model("convlstm-detector", ConvLSTMDetectorConfig,
                "correlation-map ConvLSTM predicting the next map (Albattah & Rassam 2022), MAE anomaly score")
def build_convlstm_detector(cfg: ConvLSTMDetectorConfig) -> ConvLSTMDetector:
    return ConvLSTMDetector(cfg)


# --------------------------------------------------------------------------------------------- bench ConvLSTM
@dataclass
class ConvLSTMRegressorConfig:
    """Configuration of `convlstm` (the Keras reference's sizes by default).

    Attributes:
        frames, size, channels: input of T frames of channels x size x size.
        filters, kernel_size: the ConvLSTM layer.
        outputs: Dense outputs.
    """

    frames: int = 10
    size: int = 16
    channels: int = 1
    filters: int = 16
    kernel_size: int = 3
    outputs: int = 1

    def __post_init__(self) -> None:
        _positive(self, "frames", "size", "channels", "filters", "outputs")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {self.kernel_size}")

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        return torch.rand(batch_size, self.frames, self.channels, self.size, self.size)


class ConvLSTMRegressor(nn.Module):
    """ConvLSTM2D(filters, 3x3, 'same') -> Flatten -> Dense(outputs), as in keras_reference.py.

    Shape:
        x (B, T, C, H, W) -> (B, outputs).
    """

    def __init__(self, cfg: ConvLSTMRegressorConfig) -> None:
        super().__init__()
        self.convlstm = ConvLSTM(cfg.channels, cfg.filters, cfg.kernel_size)
        self.dense = nn.Linear(cfg.filters * cfg.size * cfg.size, cfg.outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.convlstm(x).flatten(1))  # H_T (B, F, H, W) -> (B, F·H·W) -> (B, outputs)


@register_model("convlstm", ConvLSTMRegressorConfig,
                "ConvLSTM 16 filters 3x3 over 10 frames of 16x16 -> Flatten -> Dense 1 (the Keras reference)")
def build_convlstm(cfg: ConvLSTMRegressorConfig) -> ConvLSTMRegressor:
    return ConvLSTMRegressor(cfg)


# --------------------------------------------------------------------------------------------- bench inputs
def bench_data_autoencoder(n: int, gen: torch.Generator):
    """keras_reference.inputs("lstm-autoencoder"): x standard normal (n, 30, 5), y = x, MSE."""
    x = torch.randn(n, 30, 5, generator=gen)
    return x, x, torch.nn.functional.mse_loss


def bench_data_convlstm(n: int, gen: torch.Generator):
    """keras_reference.inputs("convlstm"): x uniform (n, 10, 1, 16, 16) in our (B, T, C, H, W) layout, y (n, 1)."""
    return torch.rand(n, 10, 1, 16, 16, generator=gen), torch.rand(n, 1, generator=gen), torch.nn.functional.mse_loss
