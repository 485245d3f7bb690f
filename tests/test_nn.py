"""Modules: registration, repr, state dicts and files, initialisation, input checks, and layer gradients."""
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import deconvlab.functional as F
from deconvlab import nn
from deconvlab.autograd import Tensor
from deconvlab.gradcheck import gradcheck, gradcheck_direction


class EncoderDecoder(nn.Module):
    def __init__(self, dtype=np.float32):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, dtype=dtype), nn.ReLU(),
                                 nn.Conv2d(4, 8, 3, stride=2, padding=1, dtype=dtype))
        self.scale = nn.Parameter(np.ones(1, dtype=dtype))
        self.dec = nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1, bias=False, dtype=dtype)

    def forward(self, x):
        return self.dec(F.relu(self.enc(x))) * self.scale


def small_net(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, stride=2, padding=1, dtype=dtype, rng=rng), nn.ReLU(),
        nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1, dtype=dtype, rng=rng),
        nn.LeakyReLU(0.2), nn.Sigmoid(),
    )


# registration and traversal --------------------------------------------------------------------------
def test_parameters_are_registered_in_order_with_pytorch_keys():
    model = EncoderDecoder()
    assert [k for k, _ in model.named_parameters()] == [
        "scale", "enc.0.weight", "enc.0.bias", "enc.2.weight", "enc.2.bias", "dec.weight"]
    assert list(model.state_dict()) == [k for k, _ in model.named_parameters()]
    assert len(list(model.parameters())) == 6
    assert [n for n, _ in model.named_modules()] == ["", "enc", "enc.0", "enc.1", "enc.2", "dec"]


def test_shared_parameters_appear_once_in_parameters():
    conv = nn.Conv2d(1, 1, 1)
    model = nn.Sequential(conv, conv)
    assert len(list(model.parameters())) == 2
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_unknown_attribute_is_an_attribute_error_not_none():
    model = EncoderDecoder()
    with pytest.raises(AttributeError, match="'EncoderDecoder' object has no attribute 'decoder'"):
        model.decoder
    assert model.dec.bias is None  # registered as absent, like bias=False in PyTorch


def test_assigning_a_plain_tensor_over_a_parameter_is_refused():
    conv = nn.Conv2d(1, 1, 1)
    with pytest.raises(TypeError, match="cannot assign Tensor to parameter 'weight'"):
        conv.weight = Tensor(np.ones((1, 1, 1, 1), dtype=np.float32))


def test_assigning_before_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.conv = nn.Conv2d(1, 1, 1)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Broken()


def test_repr_shows_the_tree():
    assert repr(EncoderDecoder()) == (
        "EncoderDecoder(\n"
        "  (enc): Sequential(\n"
        "    (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "    (1): ReLU()\n"
        "    (2): Conv2d(4, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))\n"
        "  )\n"
        "  (dec): ConvTranspose2d(8, 1, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)\n"
        ")"
    )
    assert repr(nn.Upsample(2, "bilinear")) == "Upsample(scale_factor=2.0, mode='bilinear')"


def test_train_eval_and_zero_grad_reach_every_module():
    model = EncoderDecoder()
    assert all(m.training for m in model.modules())
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    model(np.ones((1, 1, 4, 4), dtype=np.float32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_sequential_and_module_list_containers():
    seq = nn.Sequential(nn.ReLU(), nn.Tanh()).append(nn.Identity())
    assert len(seq) == 3 and isinstance(seq[-1], nn.Identity)
    assert isinstance(seq[1:], nn.Sequential) and list(seq[1:]._modules) == ["1", "2"]
    layers = nn.ModuleList([nn.Conv2d(1, 2, 1), nn.Conv2d(2, 1, 1)])
    assert [k for k, _ in layers.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]


# dtypes and initialisation ---------------------------------------------------------------------------
def test_layers_default_to_float32_and_convert_with_to():
    model = EncoderDecoder()
    assert all(p.dtype == np.float32 for p in model.parameters())
    model.double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model(np.ones((1, 1, 4, 4))).dtype == np.float64
    model.to(np.float32)
    assert all(p.dtype == np.float32 for p in model.parameters())


@pytest.mark.parametrize("layer,fan_in", [
    (lambda: nn.Conv2d(6, 40, (3, 5)), 6 * 15),
    (lambda: nn.ConvTranspose2d(40, 6, (3, 5)), 6 * 15),  # PyTorch's fan_in: weight.shape[1]·kH·kW
])
def test_default_init_is_uniform_within_one_over_sqrt_fan_in(layer, fan_in):
    layer = layer()
    bound = 1 / np.sqrt(fan_in)
    for p in (layer.weight, layer.bias):
        assert np.abs(p.data).max() <= bound
    w = layer.weight.data
    assert np.abs(w).max() > 0.95 * bound and abs(w.mean()) < 0.1 * bound
    assert np.std(w) == pytest.approx(bound / np.sqrt(3), rel=0.1)


def test_rng_and_manual_seed_make_initialisation_reproducible():
    a, b = nn.Conv2d(2, 3, 3, rng=5), nn.Conv2d(2, 3, 3, rng=5)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    nn.manual_seed(3)
    c = nn.Conv2d(2, 3, 3)
    nn.manual_seed(3)
    np.testing.assert_array_equal(c.weight.data, nn.Conv2d(2, 3, 3).weight.data)
    d64 = nn.Conv2d(2, 3, 3, rng=5, dtype=np.float64)
    np.testing.assert_array_equal(a.weight.data, d64.weight.data.astype(np.float32))


# input checks ----------------------------------------------------------------------------------------
def test_conv2d_channel_mismatch_names_the_layer_and_shapes():
    conv = nn.Conv2d(3, 16, 3)
    with pytest.raises(ValueError) as info:
        conv(np.zeros((1, 4, 8, 8), dtype=np.float32))
    assert str(info.value) == ("Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1)): input has 4 channels, "
                               "expected 3 (input shape (1, 4, 8, 8))")


def test_layer_input_errors():
    conv_t = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(8, 4, .*input has 3 channels, expected 8"):
        conv_t(np.zeros((1, 3, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"Conv2d\(1, 1, .*input must be 4-D.*\(8, 8\)"):
        nn.Conv2d(1, 1, 3)(np.zeros((8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"gives an output of 0x0; H_out = floor\(\(H \+ 2p - d\(k-1\) - 1\)/s\) \+ 1"):
        nn.Conv2d(1, 1, 5)(np.zeros((1, 1, 4, 4), dtype=np.float32))
    with pytest.raises(TypeError, match=r"input has dtype float64 but the layer's parameters are float32"):
        nn.Conv2d(1, 1, 3)(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="output_padding .* must be smaller than max"):
        nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="groups=2 is not supported"):
        nn.Conv2d(2, 2, 3, groups=2)
    with pytest.raises(ValueError, match="mode must be 'nearest' or 'bilinear'"):
        nn.Upsample(2, mode="bicubic")


# state dicts and files ---------------------------------------------------------------------------------
def test_state_dict_round_trip_and_copies():
    a, b = EncoderDecoder(), EncoderDecoder()
    state = a.state_dict()
    state["dec.weight"] += 1  # a copy: the model is untouched
    assert not np.array_equal(state["dec.weight"], a.dec.weight.data)
    weight = b.dec.weight.data
    b.load_state_dict(a.state_dict())
    assert b.dec.weight.data is weight  # loaded in place, so optimizers keep their references
    for (k, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=k)


def test_load_state_dict_reports_missing_extra_and_misshaped_keys_and_loads_nothing():
    model = EncoderDecoder()
    before = model.state_dict()
    state = model.state_dict()
    del state["enc.0.bias"]
    state["enc.5.weight"] = np.zeros(3, dtype=np.float32)
    state["dec.weight"] = np.zeros((8, 1, 3, 3), dtype=np.float32)
    state["scale"] = np.full(1, 9.0, dtype=np.float32)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "missing key(s): 'enc.0.bias'" in message
    assert "unexpected key(s): 'enc.5.weight'" in message
    assert ("size mismatch for 'dec.weight': the state dict has shape (8, 1, 3, 3), "
            "the parameter in the model has shape (8, 1, 4, 4)") in message
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_non_strict_load_returns_the_incompatible_keys():
    model = EncoderDecoder()
    state = {"scale": np.full(1, 2.0), "extra": np.zeros(1)}
    result = model.load_state_dict(state, strict=False)
    assert result.unexpected_keys == ["extra"] and "dec.weight" in result.missing_keys
    assert model.scale.data.dtype == np.float32 and model.scale.data[0] == 2.0
    with pytest.raises(RuntimeError, match="'scale' has dtype int64"):
        model.load_state_dict({"scale": np.array([1])}, strict=False)


def test_save_and_load_npz_atomically(tmp_path):
    a, b = EncoderDecoder(), EncoderDecoder()
    path = tmp_path / "model.npz"
    path.write_bytes(b"old contents")
    a.save(path)
    assert os.listdir(tmp_path) == ["model.npz"]
    b.load(path)
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(v, b.state_dict()[k])


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old contents")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(OSError, match="disk full"):
        EncoderDecoder().save(path)
    assert os.listdir(tmp_path) == ["model.npz"] and path.read_bytes() == b"old contents"


# gradients ---------------------------------------------------------------------------------------------
LAYERS = {
    "Conv2d": (lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), dtype=np.float64),
               (2, 2, 6, 5)),
    "Conv2d (no bias)": (lambda: nn.Conv2d(2, 2, 1, bias=False, dtype=np.float64), (1, 2, 3, 3)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1, dilation=1,
                                                   dtype=np.float64), (2, 2, 3, 4)),
    "ConvTranspose2d (dilated)": (lambda: nn.ConvTranspose2d(2, 2, (2, 3), stride=(1, 2), padding=(0, 1),
                                                             output_padding=(1, 0), dilation=2, dtype=np.float64),
                                  (1, 2, 3, 3)),
    "ReLU": (nn.ReLU, (2, 3, 4)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), (2, 3, 4)),
    "Sigmoid": (nn.Sigmoid, (2, 3, 4)),
    "Tanh": (nn.Tanh, (2, 3, 4)),
    "Identity": (nn.Identity, (2, 3)),
    "Upsample (nearest)": (lambda: nn.Upsample(2), (1, 2, 3, 3)),
    "Upsample (bilinear)": (lambda: nn.Upsample((2, 3), mode="bilinear"), (1, 2, 3, 3)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_gradcheck(name):
    make, shape = LAYERS[name]
    nn.manual_seed(0)
    layer = make()
    x = np.random.default_rng(1).uniform(0.1, 1.0, shape) * np.random.default_rng(2).choice([-1, 1], shape)
    params = list(layer.parameters())
    result = gradcheck(lambda x, *ps: layer(x), x, *params)
    print(f"{name:28s} {result.max_rel_error:.1e}  ({result.n_checked} partials)")
    assert result.max_rel_error < 1e-6, result


def test_whole_network_passes_the_directional_check():
    model = EncoderDecoder(dtype=np.float64)
    x = np.random.default_rng(0).uniform(size=(2, 1, 6, 6))
    result = gradcheck_direction(model, [x], n_directions=4, seed=1)
    print(result)
    assert result.passed and result.max_rel_error < 1e-7


def test_directional_check_catches_a_wrong_gradient(monkeypatch):
    model = small_net()
    x = np.random.default_rng(0).uniform(size=(1, 2, 4, 4))
    monkeypatch.setattr(F.LeakyRelu, "backward", staticmethod(lambda ctx, g: g))  # forgets the slope
    result = gradcheck_direction(model, [x], raise_exception=False)
    print(result)
    assert not result.passed and result.max_rel_error > 1e-3


@given(batch=st.integers(1, 2), size=st.integers(4, 7), seed=st.integers(0, 100))
def test_encoder_decoder_shapes_and_gradients_flow_to_every_parameter(batch, size, seed):
    model = small_net(seed=seed)
    y = model(np.random.default_rng(seed).uniform(size=(batch, 2, size, size)))
    half = (size - 1) // 2 + 1
    assert y.shape == (batch, 2, 2 * half, 2 * half)
    y.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())
