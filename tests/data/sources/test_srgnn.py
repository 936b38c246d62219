import pickle

import pytest

from graphsbr import DataError, load_dataset
from graphsbr.data.sources import srgnn


def write_pickle(path, obj):
    path.write_bytes(pickle.dumps(obj, protocol=4))


def toy_folder(tmp_path, train=None, test=None):
    folder = tmp_path / "toy" / "srgnn_preprocessed"
    folder.mkdir(parents=True)
    write_pickle(folder / "all_train_seq.txt", train or [[1, 2, 3], [2, 3], [3, 1, 4], [4, 2]])
    write_pickle(folder / "test.txt", test or ([[1, 2, 3], [1, 2], [1], [4]], [4, 3, 2, 1]))
    write_pickle(folder / "category.txt", {1: 10, 2: 11, 3: 10, 4: 12})
    return folder


def test_reads_a_tiny_srgnn_folder(tmp_path):
    toy_folder(tmp_path)
    data = load_dataset("toy", tmp_path, format="srgnn", valid_fraction=0.25)
    assert data.num_items == 4
    assert [data.train.session(s) for s in range(3)] == [[1, 2, 3], [2, 3], [3, 1, 4]]
    assert data.valid.session(0) == [4, 2]
    assert data.train.num_samples == 5 and data.valid.num_samples == 1
    assert [data.test.sample(m) for m in range(4)] == [([1, 2, 3], 4), ([1, 2], 3), ([1], 2), ([4], 1)]
    assert data.side["category"].values[:, 0].tolist() == [0, 1, 2, 1, 3]


def test_tuple_layout_with_dates_orders_training_sessions(tmp_path):
    folder = toy_folder(tmp_path)
    write_pickle(folder / "all_train_seq.txt", ([0, 1, 2], [[1, 2], [3, 4], [2, 3]], ["Nothing"], [3.0, 1.0, 2.0]))
    write_pickle(folder / "test.txt", ([0], [[1]], [2], [9.0]))
    data = load_dataset("toy", tmp_path, format="srgnn", valid_fraction=0.34)
    assert [data.train.session(s) for s in range(2)] == [[3, 4], [2, 3]]
    assert data.valid.session(0) == [1, 2]


@pytest.mark.parametrize("train, problem", [
    ([[1, 2], "x"], "expected a list of item-id lists"),
    ([[1, 2.5]], "integer item ids"),
    ([[0, 1]], "ids must be >= 1"),
])
def test_bad_content_names_the_file(tmp_path, train, problem):
    toy_folder(tmp_path, train=train)
    with pytest.raises(DataError, match=problem) as error:
        load_dataset("toy", tmp_path, cache=False)
    assert "all_train_seq.txt" in str(error.value)


def test_find_needs_train_and_test(tmp_path):
    (tmp_path / "all_train_seq.txt").write_bytes(b"")
    assert srgnn.find(tmp_path) is None


def test_diginetica_statistics(shared_data):
    stats = load_dataset("diginetica", shared_data).stats()
    assert stats["num_items"] == 43097
    assert stats["test_samples"] == 60858
    assert stats["train_samples"] + stats["valid_samples"] == 719470
    assert stats["side_info"] == {"category": 995}
    assert stats["avg_session_length"] == pytest.approx(906140 / 186670, abs=1e-4)


def test_tmall_statistics(shared_data):
    data = load_dataset("tmall", shared_data)
    stats = data.stats()
    assert stats["num_items"] == 40727  # ids 1..40727, every one appears in train or test
    assert stats["test_samples"] == 25898
    assert stats["train_samples"] + stats["valid_samples"] == 351268
    assert stats["side_info"] == {"category": 711, "brand": 4160}
    times = data.train.timestamps[data.train.ptr[:-1]]
    assert bool((times[1:] >= times[:-1]).all())  # sessions in chronological order
