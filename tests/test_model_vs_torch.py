"""cnnfast.models against the same networks written in torch.nn: the state_dict loads with
strict=True, the logits agree, and SGD-with-momentum steps on cross-entropy give the same weights."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from cnnfast import models  # noqa: E402

from torch_twins import TorchResidual, one_torch_thread  # noqa: E402,F401  (autouse fixture)


def torch_lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten(),
        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def torch_small_vgg():
    layers, cin = [], 3
    for channels in (32, 64, 128):
        for _ in range(2):
            layers += [nn.Conv2d(cin, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU()]
            cin = channels
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(128 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, 10)]
    return nn.Sequential(*layers)


def torch_resnet8():
    layers = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for channels, stride in ((16, 1), (32, 2), (64, 2)):
        block = nn.Sequential(
            nn.Conv2d(cin, channels, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
        )
        shortcut = None
        if stride != 1:
            shortcut = nn.Sequential(nn.Conv2d(cin, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels))
        layers += [TorchResidual(block, shortcut), nn.ReLU()]
        cin = channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


CASES = {
    "lenet5": (models.lenet5, torch_lenet5),
    "small_vgg": (models.small_vgg, torch_small_vgg),
    "resnet8": (models.resnet8, torch_resnet8),
}


def twins(name, dtype="float32"):
    build, torch_build = CASES[name]
    model = build(seed=3, dtype=dtype)
    net = torch_build().to(getattr(torch, dtype))
    # No renaming, no reshaping: the state_dict is torch's.
    net.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()}, strict=True)
    return model, net


def data(model, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *model.input_shape)).astype(model.dtype), rng.integers(0, 10, n)


@pytest.mark.parametrize("name", CASES)
def test_state_dict_loads_strictly_and_logits_agree(name):
    model, net = twins(name)
    assert list(net.state_dict()) == list(model.state_dict())  # same names, same order
    x, _ = data(model, 6)
    net.eval()
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-5)


# Training is compared in float64 for every model: in float32 the two libraries' activations
# differ by ~1e-6, and a pre-activation that close to 0 can fall on the other side of a
# ReLU, sending one gradient entry to 0 in one library only (seen with small_vgg: a 5e-4
# difference in one BatchNorm bias gradient). In float64 no input is that close to a kink.
@pytest.mark.parametrize("name, dtype", [(name, "float64") for name in CASES] + [("lenet5", "float32")])
def test_sgd_momentum_steps_give_the_same_weights(name, dtype):
    model, net = twins(name, dtype)
    rtol, atol = (1e-9, 1e-12) if dtype == "float64" else (1e-4, 2e-5)
    model.compile("sgd", lr=0.05, momentum=0.9, weight_decay=1e-4)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    net.train()
    for step in range(2):  # the second step uses the momentum buffer
        x, y = data(model, 8, seed=step)
        ours = model.train_on_batch(x, y)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()
        assert ours["loss"] == pytest.approx(loss.item(), rel=rtol)
    theirs = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    for key, value in model.state_dict().items():
        if value.dtype == np.int64:
            np.testing.assert_array_equal(value, theirs[key], err_msg=key)  # num_batches_tracked
        else:
            np.testing.assert_allclose(value, theirs[key], rtol=rtol, atol=atol, err_msg=key)
    # And the trained twins still agree in inference mode (running statistics included).
    x, _ = data(model, 4, seed=9)
    net.eval()
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), expected, rtol=100 * rtol, atol=100 * atol)
