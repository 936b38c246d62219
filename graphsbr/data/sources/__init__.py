"""Dataset sources: one module per on-disk format, each with ``find(folder)`` and ``read(files)``.

``find`` searches a dataset folder recursively and returns the files it would read (main file first) or ``None``;
``read`` returns one of the records of :mod:`graphsbr.data.records`; ``EXPECTED`` says which files it needs.
"""
from . import atomic, diginetica, retailrocket, s3rec, srgnn, synthetic, tmall, yoochoose

#: Format name -> reader module.
FORMATS = {
    "synthetic": synthetic,
    "srgnn": srgnn,
    "diginetica": diginetica,
    "yoochoose": yoochoose,
    "retailrocket": retailrocket,
    "tmall": tmall,
    "s3rec": s3rec,
    "atomic": atomic,
}

__all__ = ["FORMATS", "atomic", "diginetica", "retailrocket", "s3rec", "srgnn", "synthetic", "tmall", "yoochoose"]
