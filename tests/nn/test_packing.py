import pytest
import torch

from graphsbr.nn import MultiHeadAttention, Packing, by_width, packing


@pytest.fixture
def single_rows(monkeypatch):
    """Groups of any size (by default a group of fewer than 16 rows joins the next wider one)."""
    monkeypatch.setattr(packing, "MIN_GROUP_ROWS", 1)


def left_aligned(lengths, width):
    return torch.arange(width) < torch.as_tensor(lengths)[:, None]


def test_packing_round_trip_puts_zeros_at_padding():
    mask = left_aligned([2, 0, 3], 3)
    x = torch.arange(9.0).view(3, 3, 1)
    packed = Packing(mask)
    assert packed.pack(x).flatten().tolist() == [0.0, 1.0, 6.0, 7.0, 8.0]
    assert packed.positions().tolist() == [0, 1, 0, 1, 2]
    assert packed.unpack(packed.pack(x)).flatten().tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 6.0, 7.0, 8.0]


def test_groups_rows_by_width_and_puts_them_back_in_order(single_rows):
    mask = left_aligned([9, 2, 40, 3, 17], 40)
    h = torch.randn(5, 40, 4) * mask[..., None]
    shared = torch.randn(1, 40, 4)
    calls = []

    def fn(key_padding_mask, h, streams, scale=1.0):
        calls.append((key_padding_mask.shape, h.shape[:2], [s.shape[:2] for s in streams], scale))
        return (h + streams[0] + streams[1]) * scale * key_padding_mask[..., None]

    out = by_width(fn, mask, h, [shared, h], scale=2.0)
    assert sorted(calls) == sorted([((2, 3), (2, 3), [(1, 3), (2, 3)], 2.0),  # rows 1, 3: up to 8
                                    ((1, 9), (1, 9), [(1, 9), (1, 9)], 2.0),  # row 0: 9..16
                                    ((1, 17), (1, 17), [(1, 17), (1, 17)], 2.0),  # row 4: 17..32
                                    ((1, 40), (1, 40), [(1, 40), (1, 40)], 2.0)])  # row 2
    torch.testing.assert_close(out, (2 * h + shared) * 2.0 * mask[..., None])


def test_one_group_or_one_row_calls_fn_once_on_the_whole_batch(single_rows):
    calls = []

    def fn(mask, h):
        calls.append(h.shape)
        return h

    h = torch.randn(3, 12, 2)
    by_width(fn, left_aligned([12, 10, 9], 12), h)  # all in 9..16
    by_width(fn, left_aligned([30], 40), torch.randn(1, 40, 2))
    by_width(fn, left_aligned([30, 2], 40), torch.randn(2, 40, 2), edges=())
    assert calls == [(3, 12, 2), (1, 40, 2), (2, 40, 2)]


@pytest.mark.parametrize("causal", [True, False])
def test_attention_in_groups_equals_attention_on_the_whole_batch_with_its_gradients(causal, single_rows):
    torch.manual_seed(0)
    attention = MultiHeadAttention(8, 2)
    lengths = [1, 5, 8, 9, 16, 20, 33, 3]
    mask = left_aligned(lengths, 33)
    h = (torch.randn(len(lengths), 33, 8) * mask[..., None]).requires_grad_()

    def fn(key_padding_mask, h):
        return attention(h, key_padding_mask, causal)

    whole = fn(mask, h)
    grouped = by_width(fn, mask, h)
    torch.testing.assert_close(grouped, whole)
    weights = torch.randn_like(whole)
    (gh_whole,) = torch.autograd.grad((whole * weights).sum(), h)
    (gh_grouped,) = torch.autograd.grad((grouped * weights).sum(), h)
    torch.testing.assert_close(gh_grouped, gh_whole)


def test_width_of_a_row_is_its_last_real_click(single_rows):
    mask = torch.tensor([[True, False, True, False], [False, False, False, False], [True, True, False, False]])
    seen = []

    def fn(key_padding_mask, h):
        seen.append(key_padding_mask.shape)
        return h

    by_width(fn, mask, torch.zeros(3, 4, 1), edges=(1, 2))
    assert sorted(seen) == [(1, 1), (1, 2), (1, 3)]  # the empty row counts as width 1


def test_a_group_of_too_few_rows_joins_the_next_wider_one():
    seen = []

    def fn(key_padding_mask, h):
        seen.append(tuple(key_padding_mask.shape))
        return h

    lengths = [3] * 20 + [12] * 10 + [20] * 10 + [40] * 5  # groups of 20, 10, 10 and 5 rows
    by_width(fn, left_aligned(lengths, 40), torch.zeros(len(lengths), 40, 1))
    assert seen == [(20, 3), (25, 40)]  # the 10 rows of width 12 join the next 10, and the 5 widest join them
    seen.clear()
    by_width(fn, left_aligned([3] * 15 + [30], 30), torch.zeros(16, 30, 1))
    assert seen == [(16, 30)]  # fewer than 16 rows of width up to 8: one group, the whole batch
