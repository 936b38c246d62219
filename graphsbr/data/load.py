"""``load_dataset``: find a dataset's files, read them, apply its protocol, cache the result."""
from __future__ import annotations

import inspect
import logging
from pathlib import Path

from ..errors import ConfigError, DataError
from .cache import cache_key, cache_paths, load_cached, save_cached
from .catalog import DATASETS, GENERIC_FORMATS, DatasetInfo
from .dataset import SessionDataset
from .protocols import given_protocol, leave_one_out, merge_validation, preprocessed_session_protocol, session_protocol
from .records import ClickLog, GivenSplits, SplitSequences, UserSequences

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path("datasets")
PROTOCOL_OPTIONS = ("test_days", "min_item_count", "valid_fraction", "recent_fraction")


def load_dataset(key: str = "synthetic", root=None, *, format: str | None = None, cache: bool = True,
                 download: bool = False, **options) -> SessionDataset:
    """Loads dataset ``key`` from ``<root>/<key>/`` (searched recursively), applying its protocol.

    Args:
        key: a key of :data:`~graphsbr.data.catalog.DATASETS` (``graphsbr datasets`` lists them), or the name of
            a folder under ``root`` holding a recognisable format.
        root: the data root (default ``datasets/``).
        format: force a reader (``srgnn``, ``diginetica``, ``yoochoose``, ``retailrocket``, ``tmall``, ``s3rec``,
            ``atomic``) instead of recognising it from the files present.
        cache: reuse and write the processed cache.
        download: first fetch the dataset's public files that are not yet in place and verified
            (:func:`~graphsbr.data.download.download_dataset`; ``$GRAPHSBR_MIRROR`` sets a mirror).
        **options: protocol options for raw click logs (``test_days``, ``min_item_count``, ``valid_fraction``,
            ``recent_fraction``), ``refit`` (session protocol: the validation sessions join the training split and
            no validation split is left, :func:`~graphsbr.data.protocols.merge_validation`) and, for
            ``synthetic``, the generator's arguments (``num_items``, ``seed`` …).

    Raises:
        DataError: unknown key, missing folder or files, or bad data (naming the file and the problem).
        ConfigError: an unknown option or format.
    """
    from . import sources  # the readers load on first use, keeping `import graphsbr` light

    root = Path(root) if root is not None else DEFAULT_ROOT
    info = _info(key, root)
    if format is not None and format not in sources.FORMATS:
        raise ConfigError(f"unknown format {format!r}; choose one of {', '.join(sources.FORMATS)}")
    if as_flag(options.pop("refit", False), "refit"):
        return merge_validation(load_dataset(key, root, format=format, cache=cache, download=download, **options))
    protocol_options = {**info.options, **{k: v for k, v in options.items() if k in PROTOCOL_OPTIONS}}
    reader_options = {k: v for k, v in options.items() if k not in PROTOCOL_OPTIONS}
    if key == "synthetic" and format in (None, "synthetic"):
        return _build(sources.synthetic.read([], **_generator_options(reader_options)), key, protocol_options)
    if reader_options:
        raise ConfigError(f"unknown option(s) {', '.join(reader_options)} for dataset {key!r}; "
                          f"valid: {', '.join(PROTOCOL_OPTIONS)}")

    if download and key in DATASETS:
        from .download import download_dataset

        download_dataset(key, root)
    folder = root / key
    fmt, files = _detect(folder, (format,) if format else info.formats)
    digest = cache_key(fmt, key, files, protocol_options)
    paths = cache_paths(folder, key, digest)
    if cache:
        dataset = load_cached(paths)
        if dataset is not None:
            log.info("loaded %s from cache", key)
            return dataset
    log.info("reading %s (%s format) from %s", key, fmt, files[0])
    dataset = _build(sources.FORMATS[fmt].read(files), key, protocol_options)
    if cache and save_cached(dataset, paths) is None:
        log.warning("no writable cache location for %s", key)
    return dataset


def as_flag(value, name: str) -> bool:
    """A yes/no option given as a bool or as a ``--set`` string (``true``/``false``, ``1``/``0``, ``yes``/``no``)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"option {name} must be true or false, got {value!r}")


def known_datasets() -> str:
    return ", ".join(DATASETS)


def find_dataset(key: str, root=None) -> tuple[str, list[Path]] | None:
    """The format and the files that ``load_dataset(key, root)`` would read, or ``None`` when none are there."""
    root = Path(root) if root is not None else DEFAULT_ROOT
    try:
        return _detect(root / key, _info(key, root).formats)
    except DataError:
        return None


def _info(key: str, root: Path) -> DatasetInfo:
    if key in DATASETS:
        return DATASETS[key]
    if (root / key).is_dir():
        return DatasetInfo(key, "user folder", GENERIC_FORMATS)
    raise DataError(f"unknown dataset {key!r}: known datasets are {known_datasets()} "
                    f"(or a folder under {root} holding one of their formats)")


def _detect(folder: Path, formats: tuple[str, ...]) -> tuple[str, list[Path]]:
    from . import sources

    if not folder.is_dir():
        downloadable = folder.name in DATASETS and DATASETS[folder.name].files
        hint = f"`graphsbr download {folder.name}` fetches them" if downloadable else "see datasets/README.md"
        raise DataError(f"dataset folder not found (expected files for: {', '.join(formats)}; {hint})", folder)
    for fmt in formats:
        files = sources.FORMATS[fmt].find(folder)
        if files:
            return fmt, files
    expected = "; ".join(f"{fmt}: {sources.FORMATS[fmt].EXPECTED}" for fmt in formats)
    raise DataError(f"no recognisable dataset files (expected {expected})", folder)


def _generator_options(options: dict) -> dict:
    from . import sources

    valid = inspect.signature(sources.synthetic.generate).parameters
    unknown = [k for k in options if k not in valid]
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for the synthetic dataset; "
                          f"valid: {', '.join([*valid, *PROTOCOL_OPTIONS])}")
    return options


def _build(record, key: str, options: dict) -> SessionDataset:
    if isinstance(record, ClickLog):
        return session_protocol(record, key, **options)
    extra = {k: v for k, v in options.items() if k != "valid_fraction"}
    if extra and not isinstance(record, ClickLog):
        log.info("options %s apply to raw click logs only; ignored for preprocessed files", sorted(extra))
    if isinstance(record, SplitSequences):
        return preprocessed_session_protocol(record, key, **{k: v for k, v in options.items()
                                                             if k == "valid_fraction"})
    if isinstance(record, UserSequences):
        return leave_one_out(record, key)
    if isinstance(record, GivenSplits):
        return given_protocol(record, key)
    raise TypeError(f"a reader returned {type(record).__name__}")
