import torch
from torch.utils.data import DataLoader

from graphsbr.data.collate import SequenceCollator, collate_sequences
from graphsbr.data.dataset import SessionSplit, SideField


def toy():
    split = SessionSplit.from_sequences([[1, 2, 3, 4, 5], [6, 7]], fields={"action": torch.arange(1, 8)})
    category = SideField(torch.tensor([[0], [2], [1], [2], [1], [2], [1], [2]]), 2)
    attribute = SideField(torch.tensor([[0, 0]] + [[i, 0] if i % 2 else [i, i + 1] for i in range(1, 8)]), 9)
    return split, {"category": category, "attribute": attribute}


def test_cuts_the_last_max_len_clicks_left_aligned():
    split, side = toy()
    batch = collate_sequences(split, torch.tensor([[0, 4], [1, 1], [0, 2]]), max_len=3, side=side)
    assert batch.items.tolist() == [[2, 3, 4], [6, 0, 0], [1, 2, 0]]
    assert batch.lengths.tolist() == [3, 1, 2]
    assert batch.targets.tolist() == [5, 7, 3]
    assert batch.mask.tolist() == [[True] * 3, [True, False, False], [True, True, False]]
    assert batch.side["category"].tolist() == [[1, 2, 1], [1, 0, 0], [2, 1, 0]]
    assert batch.target_side["category"].tolist() == [2, 2, 2]
    assert batch.side["attribute"].shape == (3, 3, 2)
    assert batch.side["attribute"][0].tolist() == [[2, 3], [3, 0], [4, 5]]
    assert batch.fields["action"].tolist() == [[2, 3, 4], [6, 0, 0], [1, 2, 0]]
    assert batch.sessions.tolist() == [0, 1, 0]


def test_matches_a_plain_loop_on_random_sessions():
    g = torch.Generator().manual_seed(0)
    sessions = [torch.randint(1, 50, (int(n),), generator=g).tolist() for n in torch.randint(2, 30, (200,), generator=g)]
    split = SessionSplit.from_sequences(sessions)
    rows = torch.randperm(split.num_samples, generator=g)[:64]
    batch = collate_sequences(split, split.samples[rows], max_len=7)
    for b, m in enumerate(rows.tolist()):
        prefix, target = split.sample(m)
        prefix = prefix[-7:]
        assert batch.items[b, :len(prefix)].tolist() == prefix
        assert batch.items[b, len(prefix):].eq(0).all()
        assert batch.targets[b] == target


def test_collator_in_a_data_loader():
    split, side = toy()
    loader = DataLoader(range(split.num_samples), batch_size=2, collate_fn=SequenceCollator(split, 50, side))
    batches = list(loader)
    assert [len(b) for b in batches] == [2, 2, 1]
    assert torch.cat([b.targets for b in batches]).tolist() == split.targets.tolist()


def test_every_position_windows_cover_every_pair_once():
    from graphsbr.data.collate import every_position_windows

    split = SessionSplit.from_sequences([[1, 2, 3, 4, 5, 6, 7], [8, 9], [10]])
    windows = every_position_windows(split, max_len=3)
    assert windows.tolist() == [[0, 6], [0, 3], [1, 1]]
    batch = collate_sequences(split, windows, max_len=3, every_position=True)
    assert batch.items.tolist() == [[4, 5, 6], [1, 2, 3], [8, 0, 0]]
    assert batch.targets.tolist() == [[5, 6, 7], [2, 3, 4], [9, 0, 0]]
    pairs = sorted(t for t in batch.targets[batch.mask].tolist())
    assert pairs == sorted(split.targets.tolist())
