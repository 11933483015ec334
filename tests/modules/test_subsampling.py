"""The 4x subsampling against ``torch.nn.functional``, and its gradients in the layout
fairseq's distributed all-reduce needs."""

import copy

import torch
import torch.nn.functional as F

from birq_fairseq.modules.subsampling import Conv2dSubsampling


def reference(module: Conv2dSubsampling, feats: torch.Tensor, lengths: torch.Tensor):
    """The same subsampling written with torch.nn.functional."""
    def conv(layer, x):
        return F.silu(F.conv2d(x, layer.weight.contiguous(), layer.bias, stride=2, padding=1))

    x = conv(module.conv1, feats.unsqueeze(1))
    x = x * (torch.arange(x.size(2))[None, :] < (lengths // 2)[:, None])[:, None, :, None]
    x = conv(module.conv2, x)
    batch, channels, frames, freqs = x.shape
    x = x.permute(0, 2, 1, 3).reshape(batch, frames, channels * freqs)
    keep = torch.arange(frames)[None, :] < (lengths // 4)[:, None]
    return F.linear(x, module.linear.weight, module.linear.bias) * keep[..., None]


def test_subsampling_matches_the_functional_reference_and_gradients():
    torch.manual_seed(0)
    module = Conv2dSubsampling(n_mels=20, channels=8, output_dim=12)
    feats = torch.randn(3, 40, 20, requires_grad=True)
    lengths = torch.tensor([40, 28, 12])

    out = module(feats, lengths)
    expected = reference(module, feats, lengths)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    assert out.shape == (3, 10, 12) and out[2, 3:].abs().max() == 0

    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, [feats, module.conv1.weight, module.conv2.weight], grad)
    want = torch.autograd.grad(expected, [feats, module.conv1.weight, module.conv2.weight], grad)
    for name, g, w in zip(("input", "conv1", "conv2"), got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6, msg=name)


def test_state_dict_round_trips_into_a_fresh_module():
    source, target = Conv2dSubsampling(20, 8, 12), Conv2dSubsampling(20, 8, 12)
    target.load_state_dict(source.state_dict())
    feats, lengths = torch.randn(2, 16, 20), torch.tensor([16, 8])
    torch.testing.assert_close(target(feats, lengths), source(feats, lengths))


def test_weight_gradients_flatten_with_view():
    """fairseq's legacy_ddp all-reduce copies each gradient through ``grad.view(-1)``."""
    module = Conv2dSubsampling(20, 8, 12)
    module(torch.randn(2, 16, 20), torch.tensor([16, 8])).sum().backward()
    for parameter in module.parameters():
        parameter.grad.view(-1)


def test_channels_last_kernels_compute_the_contiguous_result_with_contiguous_parameters():
    torch.manual_seed(0)
    module = Conv2dSubsampling(20, 8, 12)
    twin = copy.deepcopy(module)
    twin.channels_last = False
    feats, lengths = torch.randn(2, 16, 20), torch.tensor([16, 8])
    torch.testing.assert_close(module(feats, lengths), twin(feats, lengths), rtol=1e-5, atol=1e-6)
    module(feats, lengths).sum().backward()
    twin(feats, lengths).sum().backward()
    for (name, p), q in zip(module.named_parameters(), twin.parameters()):
        assert p.is_contiguous() and p.grad.is_contiguous(), name
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)


def test_accumulated_gradients_are_the_sum_and_stay_contiguous():
    """Two backward passes, as fairseq's update_freq runs them."""
    torch.manual_seed(0)
    module = Conv2dSubsampling(20, 8, 12)
    batches = [torch.randn(2, 16, 20) for _ in range(2)]
    lengths = torch.tensor([16, 8])
    singles = [torch.autograd.grad(module(feats, lengths).sum(), module.conv2.weight)[0]
               for feats in batches]
    for feats in batches:
        module(feats, lengths).sum().backward()
    assert module.conv2.weight.grad.is_contiguous()
    torch.testing.assert_close(module.conv2.weight.grad, singles[0] + singles[1])


def test_no_lengths_is_the_same_as_full_lengths():
    torch.manual_seed(0)
    module = Conv2dSubsampling(20, 8, 12)
    feats = torch.randn(3, 40, 20)
    torch.testing.assert_close(module(feats, None), module(feats, torch.full((3,), 40)))
