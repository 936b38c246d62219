import pytest
import torch

from graphsbr import ConfigError
from graphsbr.nn import HomogeneousInformationExtraction
from graphsbr.nn.hie import StableQR, new_directions


def make(max_len, r, dim, reduce=None, dtype=torch.float32):
    hie = HomogeneousInformationExtraction(max_len, r, dim).to(dtype)
    if reduce is not None:
        with torch.no_grad():
            hie.reduce.copy_(reduce)
    return hie


def test_hand_computed_sign_agreement():
    hie = make(2, 2, 3, torch.tensor([[1.0, 1.0], [0.0, 1.0]]))  # Q spans e1, e2
    h_x = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    h_a = torch.tensor([[[2.0, -1.0, 5.0], [-3.0, 4.0, 1.0]]])
    # coordinates: Proj(h_X) = [[1, 0], [0, 1]], Proj(h_A) = [[2, -1], [-3, 4]]; product > 0 only on the diagonal;
    # the third axis (outside the item states' span) is dropped
    torch.testing.assert_close(hie(h_x, h_a), torch.tensor([[[2.0, 0.0, 0.0], [0.0, 4.0, 0.0]]]))
    torch.testing.assert_close(hie(h_x, -h_a), torch.zeros(1, 2, 3))  # opposite signs: nothing is kept
    torch.testing.assert_close(hie(-h_x, -h_a), hie(h_x, h_a).neg())


def test_a_single_click_keeps_the_attribute_component_along_the_item_when_they_agree():
    hie = make(4, 3, 5)
    h_x, h_a = torch.zeros(2, 4, 5), torch.zeros(2, 4, 5)
    h_x[:, 0] = torch.tensor([1.0, 2.0, 0.0, -1.0, 0.5])
    h_a[0, 0] = torch.tensor([0.5, 1.0, 3.0, 0.0, -2.0])  # h_a . h_x = 1.5 > 0
    h_a[1, 0] = -h_a[0, 0]
    _, directions = hie.basis(h_x)
    assert directions.tolist() == [[True, False, False]] * 2  # one click: one direction, the others arbitrary
    u = h_x[0, 0] / h_x[0, 0].norm()
    out = hie(h_x, h_a)
    torch.testing.assert_close(out[0, 0], (h_a[0, 0] @ u) * u)
    torch.testing.assert_close(out[1, 0], torch.zeros(5))
    assert (out[:, 1:] == 0).all()


def reference(hie, h_x, h_a, lengths):
    """HIE one sequence at a time, on its real clicks only."""
    out = torch.zeros_like(h_a)
    for b, n in enumerate(lengths.tolist()):
        q, r = torch.linalg.qr(h_x[b, :n].T @ hie.reduce[:n])
        directions = r.diagonal().abs() > r.diagonal().abs().max() * torch.finfo(r.dtype).eps ** 0.5
        proj_x, proj_a = h_x[b, :n] @ q, h_a[b, :n] @ q
        keep = (proj_x * proj_a > 0) & directions
        out[b, :n] = (proj_a * keep) @ q.T
    return out


def padded(batch, length, dim, lengths, dtype=torch.float64):
    x = torch.randn(batch, length, dim, dtype=dtype)
    return x * (torch.arange(length) < lengths[:, None]).unsqueeze(-1)


def test_batched_equals_a_per_sample_loop():
    torch.manual_seed(0)
    hie = make(8, 3, 6, torch.randn(8, 3, dtype=torch.float64), torch.float64)
    lengths = torch.tensor([7, 1, 2, 3, 5])
    h_x, h_a = padded(5, 7, 6, lengths), padded(5, 7, 6, lengths)
    out = hie(h_x, h_a)
    torch.testing.assert_close(out, reference(hie, h_x, h_a, lengths))
    kept = (out != 0).any(-1)
    assert kept.any() and not kept[torch.arange(7) >= lengths[:, None]].any()


def test_padding_and_batch_width_do_not_change_the_output():
    torch.manual_seed(1)
    hie = make(10, 4, 8)
    lengths = torch.tensor([6, 2, 4])
    h_x, h_a = padded(3, 6, 8, lengths, torch.float32), padded(3, 6, 8, lengths, torch.float32)
    wide = hie(torch.nn.functional.pad(h_x, (0, 0, 0, 4)), torch.nn.functional.pad(h_a, (0, 0, 0, 4)))
    torch.testing.assert_close(wide[:, :6], hie(h_x, h_a))
    assert (wide[:, 6:] == 0).all()


def test_repeated_item_states_count_once():
    hie = make(4, 4, 6, torch.randn(4, 4))
    h_x = torch.randn(1, 1, 6).expand(1, 4, 6).clone()  # four equal states span one direction
    assert new_directions(torch.linalg.qr(h_x.transpose(1, 2) @ hie.reduce)[1]).sum() == 1


def test_stable_qr_has_autograd_gradient_on_full_rank_matrices():
    torch.manual_seed(2)
    a = torch.randn(3, 7, 4, dtype=torch.float64, requires_grad=True)
    weight_q, weight_r = torch.randn(3, 7, 4, dtype=torch.float64), torch.randn(3, 4, 4, dtype=torch.float64)
    q, r = StableQR.apply(a)
    expected_q, expected_r = torch.linalg.qr(a)
    torch.testing.assert_close(q, expected_q)
    grad, = torch.autograd.grad((q * weight_q).sum() + (r * weight_r).sum(), a)
    expected, = torch.autograd.grad((expected_q * weight_q).sum() + (expected_r * weight_r).sum(), a)
    torch.testing.assert_close(grad, expected)
    assert torch.autograd.gradcheck(lambda t: StableQR.apply(t)[0], (a.detach()[:1].requires_grad_(),))


def test_gradients_stay_finite_on_short_and_repeated_sequences():
    torch.manual_seed(3)
    hie = make(5, 4, 8)
    h_x = torch.zeros(3, 5, 8)
    h_x[0, 0] = torch.randn(8)  # one click
    h_x[1, :3] = torch.randn(8)  # three equal states
    h_x[2, :5] = torch.randn(5, 8)
    h_x.requires_grad_()
    h_a = torch.randn(3, 5, 8) * (h_x.detach() != 0).any(-1, keepdim=True)
    hie(h_x, h_a.requires_grad_()).pow(2).sum().backward()
    for grad in (h_x.grad, h_a.grad, hie.reduce.grad):
        assert grad is not None and torch.isfinite(grad).all()
    assert hie.reduce.grad.abs().sum() > 0


def test_invalid_settings():
    for r, max_len, dim in [(0, 10, 8), (9, 10, 8), (11, 10, 16)]:
        with pytest.raises(ConfigError, match="num_bases"):
            HomogeneousInformationExtraction(max_len, r, dim)
    with pytest.raises(ValueError, match="max_len"):
        make(3, 2, 4)(torch.randn(1, 4, 4), torch.randn(1, 4, 4))
    assert "num_bases=2" in repr(make(3, 2, 4))


def test_rows_give_the_output_at_one_row_per_sequence():
    torch.manual_seed(0)
    hie = make(6, 3, 8)
    h_x, h_a = torch.randn(4, 6, 8, requires_grad=True), torch.randn(4, 6, 8)
    rows = torch.tensor([5, 0, 2, 3])
    full = hie(h_x, h_a)[torch.arange(4), rows]
    at_rows = hie(h_x, h_a[torch.arange(4), rows], rows)
    assert at_rows.shape == (4, 8)
    torch.testing.assert_close(at_rows, full)
    grad_full, = torch.autograd.grad(full.square().sum(), h_x)
    grad_rows, = torch.autograd.grad(at_rows.square().sum(), h_x)
    torch.testing.assert_close(grad_rows, grad_full)
