"""Transfer-learning backbones: training steps, weight files, adapted input."""

import sys

import numpy as np
import pytest
import torch

from skradnod.models import TransferClassifier
from skradnod.nn import BACKBONES, TransferNet


def _images(n=2, size=16, seed=0):
    rng = np.random.RandomState(seed)
    return rng.rand(n, size, size).astype(np.float32)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_each_backbone_trains_a_step_and_predicts(backbone):
    # 16 px is below every backbone's minimum: the net upsamples it itself.
    X, y = _images(), np.array([3, 5])
    clf = TransferClassifier(
        backbone=backbone, max_epochs=1, batch_size=2, valid_size=None,
        augment=False, patience=None, lr_patience=None, random_state=0,
    ).fit(X, y)
    assert clf.module_.backbone_name == backbone
    # fit builds the net right after seeding torch with random_state, so the
    # same seed rebuilds the initial weights: the one step changed the adapted
    # one-channel stem (the gradient crossed the whole backbone) and the head.
    torch.manual_seed(0)
    initial = TransferNet(backbone, n_classes=2)
    stem = _first_conv_key(initial)
    trained = clf.module_.state_dict()
    assert trained[stem].shape[1] == 1
    assert not torch.equal(trained[stem], initial.state_dict()[stem])
    assert not torch.equal(trained["head.weight"], initial.state_dict()["head.weight"])
    assert set(clf.predict(X)) <= {3, 5}
    proba = clf.predict_proba(X)
    assert proba.shape == (2, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


def _first_conv_key(net):
    name = next(
        n for n, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)
    )
    return f"{name}.weight"


def test_freeze_backbone_trains_only_the_head():
    X, y = _images(4, 32), np.array([0, 1, 0, 1])
    clf = TransferClassifier(
        backbone="resnet50", freeze_backbone=True, max_epochs=1, batch_size=4,
        valid_size=None, patience=None, lr_patience=None, random_state=0,
    ).fit(X, y)
    # fit builds the net right after seeding torch with random_state: the same
    # seed gives the initial weights.
    torch.manual_seed(0)
    initial = TransferNet("resnet50", n_classes=2, freeze=True).state_dict()
    trained = clf.module_.state_dict()
    for key, value in trained.items():
        if key.startswith("backbone."):
            # Weights and BatchNorm statistics alike stayed as initialised.
            assert torch.equal(value, initial[key]), key
    assert not torch.equal(trained["head.weight"], initial["head.weight"])


def _save(state, path):
    torch.save(state, path)
    return path


def test_weight_file_round_trip_gives_identical_outputs(tmp_path):
    # Key matching is the same for every backbone (state-dict names); DenseNet
    # is the smallest file to write.
    backbone = "densenet121"
    torch.manual_seed(0)
    net = TransferNet(backbone, n_classes=3).eval()
    # Make BatchNorm statistics non-trivial so that they must be loaded too.
    with torch.no_grad():
        net.train()(torch.rand(4, 1, 40, 40))
    net.eval()
    # A file saved from a DataParallel-wrapped net ("module." prefix).
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    path = _save(state, tmp_path / "weights.pt")
    torch.manual_seed(1)  # a different random init, overwritten by the file
    loaded = TransferNet(backbone, weights=path, n_classes=3).eval()
    x = torch.rand(2, 1, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)


def test_bare_rgb_torchvision_file_is_adapted_to_one_channel(tmp_path):
    """A torchvision model file (3-channel stem, 1000-class head) loads."""
    from torchvision.models import densenet121

    torch.manual_seed(0)
    rgb = densenet121(weights=None).eval()
    path = _save(
        {f"model.{k}": v for k, v in rgb.state_dict().items()}, tmp_path / "rgb.pt"
    )
    net = TransferNet("densenet121", weights=path, n_classes=5).eval()
    # Summing the stem over RGB = feeding the grey image in all three channels.
    rgb.classifier = torch.nn.Identity()
    x = torch.rand(2, 1, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(
            net.features(x), rgb(x.repeat(1, 3, 1, 1)), rtol=1e-4, atol=1e-5
        )
    # The 1000-class head did not fit 5 classes and was left at its init.
    assert net.head.weight.shape == (5, 1024)


def test_mis_keyed_file_gives_a_clear_error(tmp_path):
    state = TransferNet("densenet121").state_dict()
    state = {k.replace("features.conv0", "stem.conv"): v for k, v in state.items()}
    path = _save(state, tmp_path / "bad.pt")
    with pytest.raises(ValueError) as info:
        TransferNet("densenet121", weights=path)
    message = str(info.value)
    assert "bad.pt" in message
    assert "Missing keys: features.conv0.weight" in message
    assert "Unexpected keys: backbone.stem.conv.weight" in message


def test_other_bad_weight_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        TransferNet("resnet50", weights=tmp_path / "nowhere.pt")
    path = _save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="does not hold a state dict"):
        TransferNet("resnet50", weights=path)
    state = TransferNet("resnet50").state_dict()
    state["backbone.layer1.0.conv1.weight"] = torch.zeros(1, 1, 1, 1)
    path = _save(state, tmp_path / "shape.pt")
    with pytest.raises(ValueError, match="Shape mismatches: backbone.layer1.0.conv1"):
        TransferNet("resnet50", weights=path)
    with pytest.raises(ValueError, match="Unknown backbone 'vgg16'"):
        TransferNet("vgg16")
    with pytest.raises(ValueError, match="weights must be"):
        TransferNet("resnet50", weights=3)


def test_missing_library_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ImportError, match=r"pip install skradnod\[transfer\]"):
        TransferNet("inception_resnet_v2")


def test_small_inputs_are_upsampled_to_the_minimum():
    net = TransferNet("inception_v3", n_classes=2)
    assert net.prepare(torch.zeros(1, 1, 30, 60)).shape == (1, 1, 75, 150)
    assert net.prepare(torch.zeros(1, 20, 20)).shape == (1, 1, 75, 75)
    assert net.prepare(torch.zeros(1, 1, 80, 90)).shape == (1, 1, 80, 90)
