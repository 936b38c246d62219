import pytest

from graphsbr import DataError, load_dataset

HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"


def toy_folder(tmp_path, train=None):
    folder = tmp_path / "office"
    folder.mkdir()
    (folder / "Office.train.inter").write_text(train or HEADER + "0\t0 1 2\t3\n0\t0 1\t2\n0\t0\t1\n1\t4\t0\n")
    (folder / "Office.valid.inter").write_text(HEADER + "0\t0 1 2 3\t4\n1\t4 0\t2\n")
    (folder / "Office.test.inter").write_text(HEADER + "0\t0 1 2 3 4\t1\n1\t4 0 2\t3\n")
    (folder / "Office.text").write_text('item_id:token\ttext:token_seq\nB1\tpen "blue" ink\nB2\tpaper\n')
    (folder / "Office.item2index").write_text("B1\t0\nB2\t1\nB3\t2\nB4\t3\nB5\t4\n")
    return folder


def test_reads_given_splits_and_text(tmp_path):
    toy_folder(tmp_path)
    data = load_dataset("office", tmp_path)  # not in the catalogue: recognised from the files
    assert data.protocol == "given" and data.num_items == 5  # indices 0..4 -> ids 1..5
    assert data.train.num_sessions == 2  # user 0's three rows are one chain
    assert sorted(data.train.sample(m) for m in range(4)) == [([1], 2), ([1, 2], 3), ([1, 2, 3], 4), ([5], 1)]
    assert data.test.sample(1) == ([5, 1, 3], 4)
    assert data.text[:3] == ["", 'pen "blue" ink', "paper"] and data.text[5] == ""


def test_non_numeric_item(tmp_path):
    toy_folder(tmp_path, train=HEADER + "0\t0 x\t3\n")
    with pytest.raises(DataError, match="non-numeric") as error:
        load_dataset("office", tmp_path, cache=False)
    assert "Office.train.inter" in str(error.value)


def test_missing_column(tmp_path):
    toy_folder(tmp_path, train="user_id:token\titem_id:token\n0\t3\n")
    with pytest.raises(DataError, match="missing column item_id_list"):
        load_dataset("office", tmp_path, cache=False)


def test_scientific_statistics(shared_data):
    data = load_dataset("scientific", shared_data)
    stats = data.stats()
    assert stats["num_items"] == 4385
    assert stats["valid_samples"] == stats["test_samples"] == 8442
    assert stats["train_samples"] == 34101
    assert sum(1 for t in data.text[1:] if t) == 4385
    assert data.text[0] == ""
