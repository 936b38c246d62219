import json

import pytest

from graphsbr import DataError, load_dataset
from graphsbr.models.base import select_side_fields


def toy_folder(tmp_path, lines="1 1 2 3 4\n2 2 3 5\n3 4 1\n", attributes=None):
    folder = tmp_path / "toys"
    folder.mkdir()
    (folder / "Toys_and_Games.txt").write_text(lines)
    attributes = attributes or {"1": [7, 8], "2": [8], "3": [], "4": [9, 7, 8], "5": [9]}
    (folder / "Toys_and_Games_item2attributes.json").write_text(json.dumps(attributes))
    return folder


def test_reads_sequences_and_multi_valued_attributes(tmp_path):
    toy_folder(tmp_path)
    data = load_dataset("toys", tmp_path)
    assert data.protocol == "leave_one_out" and data.num_items == 5
    assert [data.test.sample(m) for m in range(3)] == [([1, 2, 3], 4), ([2, 3], 5), ([4], 1)]
    assert [data.valid.sample(m) for m in range(2)] == [([1, 2], 3), ([2], 3)]
    assert data.train.num_samples == 1 and data.train.sample(0) == ([1], 2)
    attribute = data.side["attribute"]
    assert attribute.vocab_size == 3
    assert attribute.values.tolist() == [[0, 0, 0], [1, 2, 0], [2, 0, 0], [0, 0, 0], [3, 1, 2], [3, 0, 0]]


def test_amazon_attributes_split_into_categories_and_brand(tmp_path):
    # S3-Rec lists an item's brand first, then its categories: 7 and 8 stand later somewhere, so they are
    # categories (item 2 has no brand and starts with one); 9 only ever stands first, so it is a brand
    toy_folder(tmp_path)
    data = load_dataset("toys", tmp_path, cache=False)
    assert list(data.side) == ["attribute", "category", "brand"]
    category, brand = data.side["category"], data.side["brand"]
    assert (category.vocab_size, category.labels) == (2, ["7", "8"])
    assert category.values.tolist() == [[0, 0], [1, 2], [2, 0], [0, 0], [1, 2], [0, 0]]
    assert (brand.vocab_size, brand.labels, brand.multi_valued) == (1, ["9"], False)
    assert brand.values.flatten().tolist() == [0, 0, 0, 0, 1, 1]
    # the parts survive the processed cache, and models that take every field take the merged one alone
    cached = load_dataset("toys", tmp_path)
    assert load_dataset("toys", tmp_path).side["brand"].part_of == cached.side["category"].part_of == "attribute"
    assert list(select_side_fields(cached)) == ["attribute"]
    assert list(select_side_fields(cached, ["category"])) == ["category"]


def test_other_sets_keep_the_merged_attributes_only(tmp_path):
    folder = tmp_path / "yelp"
    folder.mkdir()
    (folder / "Yelp.txt").write_text("1 1 2 3\n2 2 3 1\n")
    (folder / "Yelp_item2attributes.json").write_text(json.dumps({"1": [4, 5], "2": [5], "3": [6]}))
    assert list(load_dataset("yelp", tmp_path, cache=False).side) == ["attribute"]


@pytest.mark.parametrize("lines, problem", [("1 1 x 3\n", "line 1: non-numeric item id"),
                                            ("1 1 2\n2\n", "line 2: user 2 has no item"),
                                            ("\n", "the file is empty")])
def test_bad_sequences(tmp_path, lines, problem):
    toy_folder(tmp_path, lines=lines)
    with pytest.raises(DataError, match=problem) as error:
        load_dataset("toys", tmp_path, cache=False)
    assert "Toys_and_Games.txt" in str(error.value)


def test_bad_attributes(tmp_path):
    folder = toy_folder(tmp_path)
    (folder / "Toys_and_Games_item2attributes.json").write_text('{"1": ["a"]}')
    with pytest.raises(DataError, match="must be integers"):
        load_dataset("toys", tmp_path, cache=False)


def test_beauty_statistics(shared_data):
    stats = load_dataset("beauty", shared_data, cache=False).stats()
    assert stats["num_items"] == 12101
    assert stats["valid_samples"] == stats["test_samples"] == 22363
    assert stats["train_samples"] == 131413
    assert stats["side_info"] == {"attribute": 637, "category": 202, "brand": 435}
    assert stats["avg_session_length"] == pytest.approx(198502 / 22363, abs=1e-4)


def test_beauty_categories_and_brands_partition_the_attributes(shared_data):
    side = load_dataset("beauty", shared_data, cache=False).side

    def labels(name):  # item -> set of original S3-Rec attribute ids
        field = side[name]
        return [{field.labels[v - 1] for v in row if v} for row in field.values.tolist()]

    merged = [c | b for c, b in zip(labels("category"), labels("brand"))]
    assert merged == labels("attribute")
    assert set(side["category"].labels).isdisjoint(side["brand"].labels)
    assert int((side["brand"].values > 0).sum()) == 7492  # items with a brand, of 12,101
