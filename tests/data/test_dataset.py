import torch

from graphsbr.data.dataset import SessionDataset, SessionSplit, SideField, all_prefix_samples


def test_from_sequences_builds_csr_and_every_prefix():
    split = SessionSplit.from_sequences([[1, 2, 3], [4, 5], [6]])
    assert split.ptr.tolist() == [0, 3, 5, 6]
    assert split.items.tolist() == [1, 2, 3, 4, 5, 6]
    assert split.samples.tolist() == [[0, 1], [0, 2], [1, 1]]
    assert split.targets.tolist() == [2, 3, 5]
    assert split.sample(1) == ([1, 2], 3)
    assert split.session_index.tolist() == [0, 0, 0, 1, 1, 2]


def test_repeat_targets_are_the_re_clicks_of_a_prefix_item():
    split = SessionSplit.from_sequences([[1, 2, 1, 3], [4, 4], [5, 6, 6, 5]])
    assert split.repeat_targets.tolist() == [False, True, False, True, False, True, True]
    # only the samples a split holds count (a leave-one-out test split holds each sequence's last click)
    last = SessionSplit.from_lengths(split.lengths, split.items, torch.tensor([[0, 3], [2, 3]]))
    assert last.repeat_targets.tolist() == [False, True]


def test_all_prefix_samples_counts_len_minus_one():
    samples = all_prefix_samples(torch.tensor([4, 1, 0, 2]))
    assert samples.tolist() == [[0, 1], [0, 2], [0, 3], [3, 1]]


def test_select_sessions_keeps_their_samples_and_clicks():
    split = SessionSplit.from_sequences([[1, 2, 3], [4, 5], [6, 7, 8, 9]],
                                        timestamps=torch.arange(9.0), fields={"action": torch.arange(9)})
    sub = split.select_sessions(torch.tensor([2, 0]))
    assert sub.ptr.tolist() == [0, 4, 7]
    assert sub.items.tolist() == [6, 7, 8, 9, 1, 2, 3]
    assert sub.timestamps.tolist() == [5.0, 6.0, 7.0, 8.0, 0.0, 1.0, 2.0]
    assert sub.fields["action"].tolist() == [5, 6, 7, 8, 0, 1, 2]
    assert sorted(map(tuple, sub.samples.tolist())) == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2)]


def test_dataset_round_trips_through_a_plain_dict(tmp_path):
    split = SessionSplit.from_sequences([[1, 2, 3], [2, 3]])
    side = {"category": SideField(torch.tensor([[0], [1], [1], [2]]), 2, ["a", "b"])}
    data = SessionDataset("toy", "session", 3, split, split, split, side, text=["", "x", "y", "z"])
    torch.save(data.to_dict(), tmp_path / "d.pt")
    back = SessionDataset.from_dict(torch.load(tmp_path / "d.pt", weights_only=True))
    assert back.stats() == data.stats()
    assert torch.equal(back.side["category"].values, side["category"].values)
    assert back.text == data.text
    assert back.stats()["side_info"] == {"category": 2}
