import numpy as np
import pytest
import torch

from graphsbr.nn import DecoupledAttention, MultiHeadAttention, Packing, TransformerEncoder, by_width, packing


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


def test_groups_cut_at_once_give_the_values_and_gradients_of_indexing_group_by_group(single_rows):
    torch.manual_seed(0)
    mask = left_aligned([1, 5, 8, 9, 16, 20, 33, 3], 33)
    h = (torch.randn(8, 33, 4, dtype=torch.float64) * mask[..., None]).requires_grad_()
    a = torch.randn(8, 33, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 4, dtype=torch.float64)

    def fn(key_padding_mask, h, streams):  # rows apart, blind to padding; h read twice, a once
        return torch.tanh(h @ weight + streams[0] * h) * key_padding_mask[..., None] + streams[1]

    def by_indexing(h, a):  # what by_width did before: each group indexed on its own, zeros put around its output
        out = torch.zeros_like(h)
        for rows, width in [([0, 1, 2, 7], 8), ([3, 4], 16), ([5], 20), ([6], 33)]:
            rows = torch.tensor(rows)
            part = fn(mask[rows, :width], h[rows, :width], [a[rows, :width], h[rows, :width]])
            out = out.index_put((rows,), torch.nn.functional.pad(part, (0, 0, 0, 33 - width)))
        return out

    grouped, expected = by_width(fn, mask, h, [a, h]), by_indexing(h, a)
    assert torch.equal(grouped, expected)
    weights = torch.randn_like(grouped)
    for got, want in zip(torch.autograd.grad((grouped * weights).sum(), (h, a)),
                         torch.autograd.grad((expected * weights).sum(), (h, a))):
        torch.testing.assert_close(got, want)  # h's three terms are summed in another order: rounding apart
    assert torch.autograd.gradcheck(lambda h, a: by_width(fn, mask, h, [a, h]), (h, a))
    assert torch.autograd.gradgradcheck(lambda h, a: by_width(fn, mask, h, [a, h]), (h, a))


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


# ----------------------------------------------------------------------------------- packings built on the host
LENGTHS = [[2, 0, 3], [3, 3], [0, 0], [1], [], [5, 1, 4, 2, 5, 3]]


def assert_same_packing(packing, expected):
    assert (packing.batch, packing.length, packing.dense) == (expected.batch, expected.length, expected.dense)
    assert torch.equal(packing.index, expected.index)


@pytest.mark.parametrize("lengths", LENGTHS)
def test_packing_from_host_lengths_or_clicks_equals_the_one_found_with_nonzero(lengths):
    width = max(lengths, default=0) + 1
    for length in {width, max(lengths, default=1)}:
        mask = left_aligned(lengths, length)
        host = torch.tensor(lengths, dtype=torch.long)
        expected = Packing(mask)
        assert_same_packing(Packing(mask, lengths=host), expected)
        assert_same_packing(Packing(mask, mask.nonzero().T, host), expected)
        assert_same_packing(Packing.from_lengths(host, length, "cpu"), expected)


def test_a_full_batch_is_dense_and_its_index_is_made_on_the_device():
    packing = Packing(torch.ones(2, 3, dtype=torch.bool, device="meta"), lengths=torch.tensor([3, 3]))
    assert packing.dense and packing.index.device.type == "meta"
    x = torch.randn(2, 3, 4)
    assert Packing(torch.ones(2, 3, dtype=torch.bool), lengths=torch.tensor([3, 3])).pack(x).data_ptr() == x.data_ptr()


@pytest.mark.parametrize(("rows", "width"), [([2, 0], 4), ([1, 3, 4], 2), (None, 1), (None, 5), ([4], 3), ([], 3)])
def test_cut_packing_equals_the_packing_of_the_cut_mask(rows, width):
    lengths = torch.tensor([5, 0, 2, 4, 1])
    mask = left_aligned(lengths, 5)
    packing = Packing(mask, lengths=lengths)
    cut_mask = mask[:, :width] if rows is None else mask[torch.tensor(rows, dtype=torch.long), :width]
    given = [None] if rows is None else [rows, torch.tensor(rows, dtype=torch.long), np.asarray(rows, dtype=np.int64)]
    for host_rows in given:  # a list, a CPU tensor or an array
        cut = packing.cut(host_rows, width)
        assert_same_packing(cut, Packing(cut_mask))
        assert torch.equal(cut.lengths, cut_mask.sum(1))


def test_cut_without_host_lengths_is_none():
    assert Packing(left_aligned([2, 1], 3)).cut([0], 2) is None


@pytest.mark.parametrize("with_lengths", [True, False])
def test_repeated_packing_equals_the_packing_of_the_repeated_mask(with_lengths):
    lengths = torch.tensor([3, 0, 1])
    mask = left_aligned(lengths, 4)
    packing = Packing(mask, mask.nonzero().T, lengths if with_lengths else None)
    assert packing.repeat(1) is packing
    repeated = packing.repeat(3)
    assert_same_packing(repeated, Packing(mask.repeat(3, 1)))
    assert (repeated.lengths is None) != with_lengths
    if with_lengths:
        assert repeated.lengths.tolist() == [3, 0, 1] * 3


def test_left_aligned_index_lists_the_real_positions_row_by_row():
    assert packing.left_aligned_index(np.array([2, 0, 3]), 4).tolist() == [0, 1, 8, 9, 10]
    assert packing.left_aligned_index(np.array([], dtype=np.int64), 4).tolist() == []


# ------------------------------------------------------------------------------------- groups from host lengths
def grouped_calls(mask, h, edges=None, **kwargs):
    calls = []

    def fn(key_padding_mask, h, packing=None):
        calls.append((tuple(key_padding_mask.shape), packing))
        return h * key_padding_mask[..., None]

    return by_width(fn, mask, h, edges=edges, **kwargs), calls


@pytest.mark.parametrize("lengths", [[9, 2, 40, 3, 17, 1, 8, 33], [3, 3, 3], [1] * 5 + [12] * 3])
def test_by_width_with_host_lengths_equals_by_width_without(lengths, single_rows):
    mask = left_aligned(lengths, max(lengths))
    h = torch.randn(len(lengths), max(lengths), 3)
    host = torch.tensor(lengths)
    whole, found = grouped_calls(mask, h)
    hosted, made = grouped_calls(mask, h, lengths=host, packing=Packing(mask, lengths=host))
    assert torch.equal(hosted, whole)
    assert [shape for shape, _ in made] == [shape for shape, _ in found]
    if len(made) == 1:  # one group: the batch's own packing
        return
    order = np.argsort(np.searchsorted(np.array(packing.WIDTH_EDGES), np.array(lengths)), kind="stable")
    start = 0
    for (rows, width), group in made:  # each group got the packing of its own rows, cut to its width
        expected = Packing(mask[torch.from_numpy(order[start:start + rows]), :width])
        assert_same_packing(group, expected)
        start += rows


def test_host_lengths_bound_rows_with_holes(single_rows):
    """A mask with holes (ASIF's clicks with an attribute) grouped by the lengths of the batch it is part of: the
    rows may be cut wider than their last True entry, never narrower; the result is the same."""
    mask = torch.tensor([[True, False, True, False, False, False, False, False, False, False],
                         [False, False, False, False, False, False, False, False, False, False],
                         [True, True, False, False, False, False, False, False, False, True]])
    h = torch.randn(3, 10, 2)
    whole, found = grouped_calls(mask, h, (1, 2, 4))
    bounded, made = grouped_calls(mask, h, (1, 2, 4), lengths=torch.tensor([4, 2, 10]))
    assert torch.equal(bounded, whole)
    assert sorted(shape for shape, _ in found) == [(1, 1), (1, 3), (1, 10)]
    assert sorted(shape for shape, _ in made) == [(1, 2), (1, 4), (1, 10)]


def test_host_lengths_never_read_the_device():
    """On the meta device (shapes, no data), anything that reads the device's data on the host raises: packings
    and groups from host lengths work there; without them, nonzero needs the data."""
    lengths = torch.tensor([9, 2, 40, 3, 17] * 4)
    mask = left_aligned(lengths, 40).to("meta")
    attention = MultiHeadAttention(8, 2).to("meta")
    h = torch.randn(len(lengths), 40, 8, device="meta")

    def fn(key_padding_mask, h, packing=None):
        return attention(h, key_padding_mask, True, packing=packing)

    out = by_width(fn, mask, h, lengths=lengths, packing=Packing(mask, lengths=lengths))
    assert out.shape == h.shape and out.device.type == "meta"
    with pytest.raises((NotImplementedError, RuntimeError)):
        by_width(fn, mask, h)


def test_encoder_given_the_batch_packing_equals_the_encoder_finding_its_own(single_rows):
    torch.manual_seed(0)
    lengths = torch.tensor([1, 5, 8, 9, 16, 20, 33, 3])
    mask = left_aligned(lengths, 33)
    encoder = TransformerEncoder([DecoupledAttention(8, 2, [4], 8) for _ in range(2)], 8, 16, causal=True).eval()
    h = (torch.randn(len(lengths), 33, 8) * mask[..., None]).requires_grad_()
    side = [torch.randn(len(lengths), 33, 4) * mask[..., None]]
    position = torch.randn(1, 33, 8)
    found = encoder(h, mask, side=side, position=position)
    given = encoder(h, mask, packing=Packing(mask, mask.nonzero().T, lengths), side=side, position=position)
    assert torch.equal(given, found)
    weights = torch.randn_like(found)
    assert torch.equal(*(torch.autograd.grad((out * weights).sum(), h)[0] for out in (given, found)))
    meta = encoder.to("meta")  # and the host never reads the device's data
    out = meta(h.detach().to("meta"), mask.to("meta"), packing=Packing(mask.to("meta"), lengths=lengths),
               side=[s.to("meta") for s in side], position=position.to("meta"))
    assert out.shape == found.shape
