"""Our α-entmax bisection (:func:`graphsbr.nn.adaptive_entmax.entmax_bisect`) against the entmax package's: outputs
and gradients with respect to the scores and to α, masked entries, α near 1 and 2, slices of one valid entry."""
import pytest
import torch

from graphsbr.bench import ops_and_syncs
from graphsbr.nn.adaptive_entmax import ENTMAX_ITERATIONS, entmax_bisect, masked_entmax

entmax = pytest.importorskip("entmax")

ALPHAS = (1.01, 1.05, 1.3, 1.5, 1.8, 1.99, 2.0)


def masked_scores(dtype=torch.float32, seed=0):
    """``[6, 5, 9]`` scores with ``-inf`` where masked: varied widths, a slice of one valid entry, a full slice."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(6, 5, 9, generator=generator, dtype=dtype) * 3
    valid = (torch.arange(9) < torch.tensor([9, 6, 3, 1, 8, 2])[:, None])[:, None, :]  # [6, 1, 9]
    return scores.masked_fill(~valid, float("-inf")), valid


def outputs_and_grads(function, scores, alpha, seed=1):
    """``function(scores, alpha)`` and the gradients of a random linear loss of it."""
    scores = scores.detach().clone().requires_grad_()
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.detach().clone().requires_grad_()
    out = function(scores, alpha)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    (out * grad).sum().backward()
    return out, scores.grad, alpha.grad if isinstance(alpha, torch.Tensor) else None


def ours(scores, alpha):
    return entmax_bisect(scores, alpha, -1)


def theirs(scores, alpha):
    return entmax.entmax_bisect(scores, alpha, dim=-1, n_iter=ENTMAX_ITERATIONS)


def alphas_of(value, dtype, kind):
    """``value`` as a float, or per batch element ``[B, 1, 1]`` around it (α <= 2)."""
    if kind == "float":
        return value
    return (value - 0.005 * torch.arange(6, dtype=dtype)).clamp(min=1.005).view(6, 1, 1)


@pytest.mark.parametrize("kind", ["float", "tensor"])
@pytest.mark.parametrize("alpha", ALPHAS)
def test_float64_outputs_and_gradients_equal_the_entmax_package(alpha, kind):
    scores, valid = masked_scores(torch.float64)
    alpha = alphas_of(alpha, torch.float64, kind)
    expected = outputs_and_grads(theirs, scores, alpha)
    for got, want in zip(outputs_and_grads(ours, scores, alpha), expected):
        if want is not None:
            torch.testing.assert_close(got, want, atol=1e-10, rtol=0)
    out, grad_scores, _ = expected
    assert (out.masked_select(~valid.expand_as(out)) == 0).all()
    assert (grad_scores.masked_select(~valid.expand_as(out)) == 0).all()


@pytest.mark.parametrize("kind", ["float", "tensor"])
@pytest.mark.parametrize("alpha", ALPHAS)
def test_float32_outputs_and_gradients_equal_the_entmax_package(alpha, kind):
    """Outputs and score gradients within 1e-6; the α gradient within 1e-6 (relative 2e-6) from α = 1.3 up. Near
    α = 1 it divides by (α - 1)², which turns a one-ulp difference in p into 1e-4: there both float32 bisections are
    held to the float64 result, and ours is no further from it than the package's."""
    scores, _ = masked_scores(torch.float32)
    alpha = alphas_of(alpha, torch.float32, kind)
    out, grad_scores, grad_alpha = outputs_and_grads(ours, scores, alpha)
    want_out, want_scores, want_alpha = outputs_and_grads(theirs, scores, alpha)
    torch.testing.assert_close(out, want_out, atol=1e-6, rtol=0)
    torch.testing.assert_close(grad_scores, want_scores, atol=1e-6, rtol=0)
    if grad_alpha is None:
        return
    if float(alpha.min()) >= 1.3:
        torch.testing.assert_close(grad_alpha, want_alpha, atol=1e-6, rtol=2e-6)
        return
    truth = outputs_and_grads(theirs, scores.double(), alpha.double())[2]
    their_error = (want_alpha.double() - truth).abs().max()
    assert (grad_alpha.double() - truth).abs().max() <= 1.1 * their_error + 1e-6


def test_masked_entmax_equals_the_entmax_package_with_a_per_row_alpha():
    scores, valid = masked_scores(torch.float32)
    for alpha in (torch.linspace(1.1, 1.9, 6), torch.linspace(1.1, 1.9, 6)[:, None]):  # [B] and [B, 1]
        got = outputs_and_grads(lambda s, a: masked_entmax(s, valid, a), scores, alpha)
        want = outputs_and_grads(lambda s, a: theirs(s, a.view(6, 1, 1)), scores, alpha)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, atol=1e-6, rtol=2e-6)
        assert got[2].shape == alpha.shape


def test_gradcheck_in_float64():
    scores, _ = masked_scores(torch.float64)
    scores = scores[:3, :2].clone().requires_grad_()  # widths 9, 6 and 3
    for value in (1.02, 1.5, 1.98):
        alpha = torch.tensor([value, 1.3, 1.7], dtype=torch.float64).view(3, 1, 1).requires_grad_()
        assert torch.autograd.gradcheck(lambda s, a: entmax_bisect(s, a, -1, n_iter=50), (scores, alpha))


def test_a_slice_of_one_valid_entry_gets_all_the_weight_and_no_gradient():
    scores = torch.tensor([[0.3, float("-inf"), float("-inf")]]).requires_grad_()
    alpha = torch.tensor([[1.4]]).requires_grad_()
    out = entmax_bisect(scores, alpha)
    (out * torch.tensor([[2.0, 3.0, 4.0]])).sum().backward()
    assert out.tolist() == [[1.0, 0.0, 0.0]]
    assert scores.grad.abs().max() == 0 and alpha.grad.abs().max() == 0


def test_sparsemax_at_alpha_two():
    scores = torch.tensor([[2.0, 1.5, 0.0, -1.0]])
    torch.testing.assert_close(entmax_bisect(scores, 2.0), torch.tensor([[0.75, 0.25, 0.0, 0.0]]))


def test_masked_entmax_is_the_same_under_autocast():
    scores, valid = masked_scores(torch.float32)
    alpha = torch.linspace(1.1, 1.9, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = outputs_and_grads(lambda s, a: masked_entmax(s, valid, a), scores, alpha)
    for got, want in zip(under, outputs_and_grads(lambda s, a: masked_entmax(s, valid, a), scores, alpha)):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, atol=0, rtol=0)


def test_a_bisection_step_dispatches_at_most_eight_ops():
    scores, valid = masked_scores(torch.float32)
    alpha = torch.linspace(1.1, 1.9, 6)

    def ops(n_iter):
        return ops_and_syncs(lambda: outputs_and_grads(lambda s, a: entmax_bisect(s, a.view(6, 1, 1), -1, n_iter),
                                                       scores, alpha))[:2]

    (few, syncs), (many, _) = ops(5), ops(25)
    assert (many - few) / 20 <= 8 and syncs == 0
