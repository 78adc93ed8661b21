"""cnnfast.layers against torch.nn: same weights (via load_state_dict) -> same
forward, same input and parameter gradients, same running statistics, and
state_dicts that load both ways with strict=True."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

# torch warns that its even-kernel "same" padding copies the input; that is the case under test.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

from cnnfast import layers as L  # noqa: E402

from torch_twins import TorchResidual  # noqa: E402


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


class TorchSubsampling(nn.Module):
    """LeNet-5's trainable subsampling written in torch: avg_pool * weight + bias per map."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        pooled = nn.functional.avg_pool2d(x, 2)
        return pooled * self.weight[:, None, None] + self.bias[:, None, None]


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def torch_state(layer):
    return {k: torch.from_numpy(v) for k, v in layer.state_dict().items()}


def compare(layer, module, x_shape, training=True, seed=0, tol=1e-10):
    """Randomise our layer's parameters, copy them into ``module`` (strict),
    run both in float64 and compare outputs, input gradients, parameter
    gradients (by name) and buffers afterwards."""
    layer.astype(np.float64)
    layer.build(x_shape[1:], np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for _, p in layer.named_parameters():
        p.data[...] = rng.uniform(0.5, 1.5, p.data.shape) * rng.choice([-1, 1], p.data.shape)
    for name, buffer in layer.named_buffers():
        if name.endswith("running_mean"):
            buffer[...] = rng.standard_normal(buffer.shape)
        elif name.endswith("running_var"):
            buffer[...] = rng.uniform(0.5, 2.0, buffer.shape)
    module = module.double()
    module.load_state_dict(torch_state(layer), strict=True)
    module.train(training)

    x = rand(x_shape, seed + 2)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = module(tx)
    y = layer(x, training=True) if training or _frozen(layer) else layer(x, training=False)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tol, atol=tol)
    if not training and not _frozen(layer):
        return
    grad_y = rand(y.shape, seed + 3)
    grad_x = layer.backward(grad_y)
    ty.backward(torch.from_numpy(grad_y))
    np.testing.assert_allclose(grad_x, tx.grad.numpy(), rtol=tol, atol=tol)
    torch_params = dict(module.named_parameters())
    assert sorted(torch_params) == sorted(name for name, _ in layer.named_parameters())
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, torch_params[name].grad.numpy(), rtol=tol, atol=tol, err_msg=name)
    torch_buffers = dict(module.named_buffers())
    for name, buffer in layer.named_buffers():
        np.testing.assert_allclose(buffer, torch_buffers[name].numpy(), rtol=tol, atol=tol, err_msg=name)


def _frozen(layer):
    return getattr(layer, "freeze_statistics", False)


CASES = {
    "conv": (lambda: L.Conv2D(4, 3, stride=2, padding=1), lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1),
             (2, 3, 7, 6)),
    "conv_same_odd": (lambda: L.Conv2D(4, 3, padding="same"), lambda: nn.Conv2d(3, 4, 3, padding="same"),
                      (2, 3, 5, 6)),
    "conv_same_even": (lambda: L.Conv2D(2, 4, padding="same"), lambda: nn.Conv2d(3, 2, 4, padding="same"),
                       (2, 3, 6, 5)),
    "conv_same_even_dilated": (lambda: L.Conv2D(2, (2, 4), padding="same", dilation=(3, 1)),
                               lambda: nn.Conv2d(2, 2, (2, 4), padding="same", dilation=(3, 1)), (1, 2, 7, 7)),
    "conv_valid_groups_nobias": (lambda: L.Conv2D(4, (3, 2), padding="valid", groups=2, use_bias=False),
                                 lambda: nn.Conv2d(2, 4, (3, 2), groups=2, bias=False), (2, 2, 5, 5)),
    "conv_dilated": (lambda: L.Conv2D(3, 3, dilation=2, padding=(2, 1)),
                     lambda: nn.Conv2d(2, 3, 3, dilation=2, padding=(2, 1)), (2, 2, 6, 6)),
    "conv_transpose": (lambda: L.Conv2DTranspose(4, 3, stride=2, padding=1, output_padding=1, groups=2),
                       lambda: nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2),
                       (2, 2, 3, 4)),
    "conv_transpose_dilated": (lambda: L.Conv2DTranspose(3, (2, 3), dilation=2, use_bias=False),
                               lambda: nn.ConvTranspose2d(2, 3, (2, 3), dilation=2, bias=False), (2, 2, 3, 3)),
    "max_pool": (lambda: L.MaxPool2D(), lambda: nn.MaxPool2d(2), (2, 3, 6, 5)),
    "max_pool_padded": (lambda: L.MaxPool2D(3, 2, 1), lambda: nn.MaxPool2d(3, 2, 1), (2, 2, 7, 6)),
    "avg_pool": (lambda: L.AvgPool2D(3, 2, 1), lambda: nn.AvgPool2d(3, 2, 1), (2, 2, 7, 6)),
    "avg_pool_exclude_pad": (lambda: L.AvgPool2D(3, 2, 1, count_include_pad=False),
                             lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 2, 7, 6)),
    "global_avg_pool": (lambda: L.GlobalAvgPool2D(), lambda: Lambda(lambda x: x.mean(dim=(2, 3))), (2, 3, 4, 5)),
    "subsampling": (lambda: L.Subsampling2D(), lambda: TorchSubsampling(3), (2, 3, 6, 4)),
    "dense": (lambda: L.Dense(5), lambda: nn.Linear(4, 5), (3, 4)),
    "dense_nobias": (lambda: L.Dense(5, use_bias=False), lambda: nn.Linear(4, 5, bias=False), (3, 4)),
    "flatten": (lambda: L.Flatten(), lambda: nn.Flatten(), (2, 3, 2, 2)),
    "batchnorm1d": (lambda: L.BatchNorm1D(momentum=0.2), lambda: nn.BatchNorm1d(3, momentum=0.2), (6, 3)),
    "batchnorm1d_3d": (lambda: L.BatchNorm1D(eps=1e-3), lambda: nn.BatchNorm1d(3, eps=1e-3), (4, 3, 5)),
    "batchnorm2d": (lambda: L.BatchNorm2D(), lambda: nn.BatchNorm2d(3), (4, 3, 3, 2)),
    "relu": (lambda: L.ReLU(), lambda: nn.ReLU(), (3, 4, 5)),
    "leaky_relu": (lambda: L.LeakyReLU(0.2), lambda: nn.LeakyReLU(0.2), (3, 4, 5)),
    "leaky_relu_steep": (lambda: L.LeakyReLU(3.0), lambda: nn.LeakyReLU(3.0), (3, 4, 5)),
    "prelu": (lambda: L.PReLU(), lambda: nn.PReLU(), (3, 4, 5)),
    "prelu_per_channel": (lambda: L.PReLU(4), lambda: nn.PReLU(4), (3, 4, 2, 2)),
    "prelu_inferred": (lambda: L.PReLU(None), lambda: nn.PReLU(4), (3, 4, 5)),
    "elu": (lambda: L.ELU(0.7), lambda: nn.ELU(0.7), (3, 4, 5)),
    "tanh": (lambda: L.Tanh(), lambda: nn.Tanh(), (3, 4, 5)),
    "sigmoid": (lambda: L.Sigmoid(), lambda: nn.Sigmoid(), (3, 4, 5)),
    "softmax": (lambda: L.Softmax(), lambda: nn.Softmax(dim=1), (3, 4, 5)),
    "scaled_tanh": (lambda: L.ScaledTanh(), lambda: Lambda(lambda x: 1.7159 * torch.tanh(2.0 * x / 3.0)),
                    (3, 4, 5)),
    "residual": (lambda: L.Residual(L.Sequential([L.Conv2D(3, 3, padding=1), L.BatchNorm2D(), L.ReLU(),
                                                 L.Conv2D(3, 3, padding=1)])),
                 lambda: TorchResidual(nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                                                     nn.Conv2d(3, 3, 3, padding=1))), (2, 3, 4, 4)),
    # Keras's names and spellings (issue 15)
    "keras_conv_strides": (lambda: L.Conv2D(4, 3, strides=2, padding="valid"), lambda: nn.Conv2d(3, 4, 3, stride=2),
                           (2, 3, 7, 6)),
    "keras_max_pooling": (lambda: L.MaxPooling2D(pool_size=(2, 2), strides=(1, 2), padding="valid"),
                          lambda: nn.MaxPool2d(2, stride=(1, 2)), (2, 3, 6, 5)),
    "keras_average_pooling": (lambda: L.AveragePooling2D((3, 2)), lambda: nn.AvgPool2d((3, 2)), (2, 3, 6, 5)),
    "keras_batchnormalization_2d": (lambda: L.BatchNormalization(momentum=0.9, epsilon=1e-3),
                                    lambda: nn.BatchNorm2d(3, momentum=0.1, eps=1e-3), (4, 3, 3, 2)),
    "keras_batchnormalization_1d": (lambda: L.BatchNormalization(axis=-1),
                                    lambda: nn.BatchNorm1d(3, momentum=0.01, eps=1e-3), (6, 3)),
    "zero_padding": (lambda: L.ZeroPadding2D(((1, 2), (0, 3))), lambda: nn.ZeroPad2d((0, 3, 1, 2)), (2, 3, 4, 5)),
    "zero_padding_int": (lambda: L.ZeroPadding2D(2), lambda: nn.ZeroPad2d(2), (2, 1, 3, 3)),
    "rescaling": (lambda: L.Rescaling(1 / 255, offset=-0.5), lambda: Lambda(lambda x: x / 255 - 0.5), (2, 3, 4, 5)),
    "residual_projection": (lambda: L.Residual(L.Conv2D(4, 3, stride=2, padding=1), L.Conv2D(4, 1, stride=2)),
                            lambda: TorchResidual(nn.Conv2d(2, 4, 3, stride=2, padding=1),
                                                  nn.Conv2d(2, 4, 1, stride=2)), (2, 2, 5, 5)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_training_forward_and_backward_match_torch(case):
    ours, theirs, shape = CASES[case]
    compare(ours(), theirs(), shape, training=True)


@pytest.mark.parametrize("case", ["batchnorm1d", "batchnorm2d", "residual", "max_pool_padded", "softmax",
                                  "keras_batchnormalization_2d"])
def test_inference_forward_matches_torch_eval(case):
    ours, theirs, shape = CASES[case]
    compare(ours(), theirs(), shape, training=False)


@pytest.mark.parametrize("ours,theirs,shape", [
    (lambda: L.BatchNorm2D(freeze_statistics=True), lambda: nn.BatchNorm2d(3), (4, 3, 3, 2)),
    (lambda: L.BatchNorm1D(freeze_statistics=True), lambda: nn.BatchNorm1d(3), (5, 3)),
])
def test_frozen_batchnorm_backward_matches_torch_eval_mode(ours, theirs, shape):
    compare(ours(), theirs(), shape, training=False)


def test_dropout_matches_torch_at_inference_and_in_expectation():
    layer, module = L.Dropout(0.4), nn.Dropout(0.4)
    x = np.ones((64, 1000), np.float32)
    np.testing.assert_array_equal(layer(x), module.eval()(torch.from_numpy(x)).numpy())
    ours = layer(x, training=True)
    theirs = module.train()(torch.from_numpy(x)).numpy()
    assert set(np.unique(ours)) == set(np.unique(theirs))  # {0, 1 / 0.6}
    assert abs(np.mean(ours == 0) - np.mean(theirs == 0)) < 0.01


def test_batchnorm_running_stats_over_several_steps_match_torch():
    layer, module = L.BatchNorm2D(momentum=0.25).astype(np.float64), nn.BatchNorm2d(3, momentum=0.25).double()
    layer.build((3, 4, 4))
    for step in range(3):
        x = rand((5, 3, 4, 4), step) * (step + 1) + step
        np.testing.assert_allclose(layer(x, training=True), module(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-10, atol=1e-10)
    for name, value in module.state_dict().items():
        np.testing.assert_allclose(layer.state_dict()[name], value.numpy(), rtol=1e-12, err_msg=name)
    assert layer.state_dict()["num_batches_tracked"] == 3


def lenet_pair(dropout=True):
    """The same network in both libraries; without dropout, the identity
    takes its place (so the indices, hence the names, do not move)."""
    ours = L.Sequential([
        L.Conv2D(6, 5, padding=2), L.BatchNorm2D(), L.ReLU(), L.MaxPool2D(),
        L.Conv2D(16, 5), L.PReLU(None), L.AvgPool2D(),
        L.Flatten(), L.Dense(120), L.ELU(), L.Dropout(0.5 if dropout else 0.0), L.Dense(84), L.BatchNorm1D(),
        L.Tanh(), L.Dense(10),
    ])
    theirs = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.PReLU(16), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ELU(), nn.Dropout(0.5) if dropout else nn.Identity(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Tanh(), nn.Linear(84, 10),
    )
    return ours, theirs


def test_sequential_state_dict_loads_into_torch_strictly_and_gives_the_same_outputs():
    ours, theirs = lenet_pair()
    ours.build((1, 28, 28), np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((8, 1, 28, 28)).astype(np.float32)
    ours(x, training=True)  # move the running statistics away from their initial values
    state = ours.state_dict()
    assert list(state) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    theirs.eval()
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(x), expected, rtol=1e-4, atol=1e-5)


def test_torch_state_dict_loads_into_ours_strictly_and_training_step_matches():
    torch.manual_seed(0)
    ours, theirs = lenet_pair(dropout=False)
    ours.build((1, 28, 28), np.random.default_rng(0))
    theirs = theirs.double().train()
    ours.astype(np.float64)
    ours.load_state_dict(theirs.state_dict(), strict=True)  # torch tensors are accepted
    x = np.random.default_rng(2).standard_normal((6, 1, 28, 28))
    tx = torch.from_numpy(x)
    ty = theirs(tx)
    y = ours(x, training=True)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-9, atol=1e-10)
    grad_y = np.random.default_rng(3).standard_normal(y.shape)
    ours.backward(grad_y)
    ty.backward(torch.from_numpy(grad_y))
    torch_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, torch_params[name].grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_torch_default_initialisation_has_torch_bounds():
    torch.manual_seed(0)
    module = nn.Conv2d(8, 16, 3)
    layer = L.Conv2D(16, 3)
    layer.build((8, 5, 5), np.random.default_rng(0))
    for name, p in layer.named_parameters():
        torch_max = dict(module.named_parameters())[name].detach().abs().max().item()
        ours_max = np.abs(p.data).max()
        bound = 1 / np.sqrt(8 * 9)
        assert torch_max <= bound and ours_max <= bound
        assert ours_max > 0.8 * bound and torch_max > 0.8 * bound
