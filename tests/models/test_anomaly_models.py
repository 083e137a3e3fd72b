"""The anomaly models: sizes of the course / Keras reference, shapes, config errors, bench inputs."""

from __future__ import annotations

import pytest
import torch

import neuralab
from neuralab.bench import SPECS
from neuralab.errors import ConfigError
from neuralab.models.anomaly import bench_data_autoencoder, bench_data_convlstm


def _params(m):
    return sum(p.numel() for p in m.parameters())


def test_convlstm_matches_the_keras_reference_size():
    m = neuralab.get_model("convlstm", **SPECS["convlstm"]["config"])
    # ConvLSTM2D: 9,856; Dense(16·16·16 -> 1): 4,097
    assert _params(m) == 9856 + 4097
    assert m(torch.rand(3, 10, 1, 16, 16)).shape == (3, 1)


def test_lstm_autoencoder_sizes_and_any_window_length():
    m = neuralab.get_model("lstm-autoencoder", n_features=5).eval()
    # Keras: LSTM 64 on 5 (17,920) + LSTM 32 on 64 (12,416) + LSTM 64 on 32 (24,832) + Dense 64->5 (325) = 55,493;
    # torch's LSTM keeps a second bias vector per layer: + 4·(64 + 32 + 64) = 640
    assert _params(m) == 55_493 + 640
    for T in (7, 30):
        assert m(torch.randn(2, T, 5)).shape == (2, T, 5)
    with pytest.raises(ConfigError, match="units must be two positive sizes"):
        neuralab.get_model("lstm-autoencoder", units=(64,))


def test_convlstm_detector_predicts_one_map():
    m = neuralab.get_model("convlstm-detector", n_channels=6, scales=2, frames=3)
    assert m(torch.randn(4, 3, 2, 6, 6)).shape == (4, 2, 6, 6)
    with pytest.raises(ConfigError, match="kernel_size must be odd"):
        neuralab.get_model("convlstm-detector", kernel_size=4)
    with pytest.raises(ConfigError, match="mode must be 'predict' or 'reconstruct', got 'forecast'"):
        neuralab.get_model("convlstm-detector", mode="forecast")


@pytest.mark.parametrize("C", [1, 4, 7])
def test_convlstm_detector_reconstruct_mode_goes_through_a_half_resolution_bottleneck(C):
    m = neuralab.get_model("convlstm-detector", n_channels=C, scales=3, frames=2, filters=5, mode="reconstruct")
    seen = []
    m.convlstm.register_forward_hook(lambda mod, i, o: seen.append(tuple(o.shape)))
    assert m(torch.randn(4, 2, 3, C, C)).shape == (4, 3, C, C)  # decoded and cropped back to C x C
    assert seen == [(4, 5, (C + 1) // 2, (C + 1) // 2)]  # H_K at ⌈C/2⌉ x ⌈C/2⌉


def test_bench_inputs_follow_keras_reference():
    x, y, _ = bench_data_autoencoder(4, torch.Generator().manual_seed(0))
    assert x.shape == (4, 30, 5) and y is x
    x, y, _ = bench_data_convlstm(4, torch.Generator().manual_seed(0))
    assert x.shape == (4, 10, 1, 16, 16) and y.shape == (4, 1) and 0 <= x.min() and x.max() <= 1
    assert SPECS["lstm-autoencoder"]["batch_size"] == 64 and SPECS["convlstm"]["batch_size"] == 16


def test_lstm_autoencoder_learns_to_reconstruct():
    torch.manual_seed(0)
    t = torch.linspace(0, 6.28, 12)
    x = torch.stack([torch.sin(t[None] + torch.rand(64, 1) * 6), torch.cos(t[None] + torch.rand(64, 1) * 6)], -1)
    m = neuralab.get_model("lstm-autoencoder", n_features=2, units=(16, 8), dropout=0.0)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = torch.nn.functional.mse_loss(m(x), x)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_bench_specs_match_the_keras_reference(shared_data):
    import ast
    from pathlib import Path

    ref = Path(shared_data).parent / "anchors" / "keras_reference.py"
    if not ref.is_file():
        pytest.skip("keras_reference.py not found")
    tree = ast.parse(ref.read_text())
    specs = next(n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "SPECS")
    keras = {ast.literal_eval(k): {kw.arg: ast.literal_eval(kw.value) for kw in v.keywords}
             for k, v in zip(specs.keys, specs.values, strict=True)}
    assert keras["lstm-autoencoder"] == {"seq_len": 30, "features": 5, "batch_size": 64}
    assert keras["convlstm"] == {"frames": 10, "size": 16, "channels": 1, "filters": 16, "batch_size": 16}
    for name in ("lstm-autoencoder", "convlstm"):
        ours = SPECS[name]
        assert {k: ours[k] for k in keras[name]} == keras[name]
