"""skradnod.nn: output shapes and what each block must preserve."""

import inspect

import pytest
import torch

from skradnod.nn import (
    FeatureBranch,
    FusionNet,
    ImageBranch,
    InceptionBlock,
    NoduleCNN,
    ResidualBlock,
    SEBlock,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("shape", [(16, 16), (32, 32), (64, 64), (40, 56)])
def test_nodule_cnn_output_shape_any_size(shape):
    net = NoduleCNN(n_classes=5, width=4).eval()
    assert net(torch.rand(3, 1, *shape)).shape == (3, 5)
    # The data contract's (n, H, W) batch is accepted too, with the same result.
    x = torch.rand(2, *shape)
    torch.testing.assert_close(net(x), net(x[:, None]))


def test_nodule_cnn_rejects_too_small_and_wrong_channels():
    with pytest.raises(ValueError, match="at least 8x8"):
        NoduleCNN(width=4)(torch.rand(2, 1, 4, 4))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        NoduleCNN(width=4)(torch.rand(2, 3, 32, 32))


@pytest.mark.parametrize("size", [32, 48, 64])
def test_image_branch_output_shape(size):
    branch = ImageBranch(width=4, out_features=12).eval()
    assert branch(torch.rand(2, 1, size, size)).shape == (2, 12)


def test_image_branch_has_inception_stage_and_needs_32_pixels():
    branch = ImageBranch(width=4)
    assert len(branch.stages) == 5
    assert isinstance(branch.stages[1][0], InceptionBlock)
    assert isinstance(branch.stages[2][0], ResidualBlock)
    assert isinstance(branch.stages[0][-1], SEBlock)
    with pytest.raises(ValueError, match="at least 32x32"):
        branch(torch.rand(2, 1, 16, 16))


def test_se_block_scales_each_channel_by_a_weight_in_0_1():
    se = SEBlock(6, reduction=2)
    x = torch.rand(4, 6, 5, 5) + 0.1
    scale = se.scale(x)
    assert scale.shape == (4, 6, 1, 1)
    assert ((scale > 0) & (scale < 1)).all()
    out = se(x)
    ratio = out / x
    # One factor per (sample, channel): constant over the spatial positions.
    torch.testing.assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio))
    torch.testing.assert_close(ratio[:, :, 0, 0], scale[:, :, 0, 0])


def test_se_block_attends_to_the_channel_its_weights_favour():
    se = SEBlock(2, reduction=1)
    with torch.no_grad():
        se.fc1.weight.zero_()
        se.fc1.bias.fill_(1.0)
        se.fc2.weight.zero_()
        se.fc2.bias.copy_(torch.tensor([8.0, -8.0]))
    scale = se.scale(torch.rand(1, 2, 4, 4))[0, :, 0, 0]
    assert scale[0] > 0.99 and scale[1] < 0.01


@pytest.mark.parametrize("train", [True, False])
def test_residual_block_is_identity_at_zero_init(train):
    block = ResidualBlock(5).train(train)
    x = torch.rand(3, 5, 7, 7)  # non-negative, like a ReLU output
    torch.testing.assert_close(block(x), x)


def test_residual_block_projection_changes_channels_keeps_size():
    block = ResidualBlock(4, 10)
    assert block(torch.rand(2, 4, 9, 11)).shape == (2, 10, 9, 11)
    with torch.no_grad():
        block.bn2.weight.fill_(1.0)  # once trained, the residual path contributes
    x = torch.rand(2, 4, 9, 11)
    block.eval()
    assert not torch.allclose(block(x), block.shortcut(x).relu())


@pytest.mark.parametrize("size", [7, 9, 16])
def test_inception_block_concatenates_four_branches(size):
    block = InceptionBlock(3, 14).eval()
    x = torch.rand(2, 3, size, size)
    out = block(x)
    assert out.shape == (2, 14, size, size)
    # 14 = 5 (1x1, takes the remainder) + 3 + 3 + 3, in that order.
    torch.testing.assert_close(out[:, :5], block.branch1(x))
    torch.testing.assert_close(out[:, 5:8], block.branch3(x))
    torch.testing.assert_close(out[:, 8:11], block.branch5(x))
    torch.testing.assert_close(out[:, 11:], block.branch_pool(x))
    with pytest.raises(ValueError, match="out_channels >= 4"):
        InceptionBlock(3, 2)


def test_feature_branch_shapes_and_skip_connection():
    branch = FeatureBranch(9, hidden=8).eval()
    x = torch.randn(5, 9)
    assert branch(x).shape == (5, 8)
    assert FeatureBranch(9, n_classes=3).eval()(x).shape == (5, 3)
    # Silence layer 3: the output is then exactly layer 2's (the skip).
    with torch.no_grad():
        branch.layer3[0].weight.zero_()
        branch.layer3[0].bias.zero_()
    torch.testing.assert_close(branch(x), branch.layer2(branch.layer1(x)))


def test_fusion_net_forward_names_are_branch_names():
    net = FusionNet(n_features=7, n_classes=4, image_width=4).eval()
    assert list(inspect.signature(net.forward).parameters) == ["image", "features"]
    out = net(image=torch.rand(3, 1, 32, 32), features=torch.randn(3, 7))
    assert out.shape == (3, 4)
    # Both branches matter: changing either input changes the logits.
    out_img = net(image=torch.rand(3, 1, 32, 32), features=torch.randn(3, 7) * 0)
    assert not torch.allclose(out, out_img)


def test_fusion_net_trains_a_step():
    net = FusionNet(n_features=3, n_classes=2, image_width=4)
    optim = torch.optim.AdamW(net.parameters(), lr=1e-2)
    image, features = torch.rand(8, 1, 32, 32), torch.randn(8, 3)
    y = torch.tensor([0, 1] * 4)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(net(image, features), y)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_soft_ordinal_cross_entropy_known_values():
    from skradnod.nn import SoftOrdinalCrossEntropy

    logits = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 1, 2, 3, 4, 2])
    # A very sharp fall-off is plain cross-entropy.
    sharp = SoftOrdinalCrossEntropy(scale=50.0)(logits, target)
    plain = torch.nn.functional.cross_entropy(logits, target)
    assert torch.allclose(sharp, plain, atol=1e-5)
    # scale=1: the target of class 2 is softmax(-(k - 2)^2) over k = 0..4.
    soft = torch.softmax(-((torch.arange(5.0) - 2) ** 2), 0)
    one = SoftOrdinalCrossEntropy(scale=1.0)(logits[:1], torch.tensor([2]))
    assert torch.allclose(one, -(soft * torch.log_softmax(logits[:1], 1)).sum())
    # Class weights weigh each sample by its true class, like CrossEntropyLoss.
    weight = torch.tensor([0.1, 0.2, 0.3, 0.2, 0.2])
    weighted = SoftOrdinalCrossEntropy(weight=weight, scale=50.0)(logits, target)
    expected = torch.nn.functional.cross_entropy(logits, target, weight=weight)
    assert torch.allclose(weighted, expected, atol=1e-5)


def test_soft_ordinal_cross_entropy_penalises_far_errors_more():
    from skradnod.nn import SoftOrdinalCrossEntropy

    loss = SoftOrdinalCrossEntropy()
    logits = torch.tensor([[0.0, 0.0, 0.0, 6.0, 0.0]])  # confident class 3
    losses = [loss(logits, torch.tensor([k])).item() for k in range(5)]
    assert losses[3] < losses[4] < losses[1] < losses[0]
    assert losses[2] < losses[1]
