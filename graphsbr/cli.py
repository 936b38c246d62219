"""The ``graphsbr`` command (DESIGN §6). Bad input exits non-zero with one line, never a traceback."""
from __future__ import annotations

import argparse
import json
import logging
import sys

from .data import DATASETS, load_dataset
from .errors import GraphSBRError


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="synthetic", help="dataset key (see `graphsbr datasets`)")
    parser.add_argument("--root", default=None, help="data root holding <root>/<key>/ (default: datasets/)")
    parser.add_argument("--format", default=None, help="force a reader instead of recognising the files")
    parser.add_argument("--no-cache", action="store_true", help="ignore and do not write the processed cache")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphsbr", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("datasets", help="list the dataset keys")
    stats = commands.add_parser("stats", help="statistics of a dataset after its protocol")
    _add_data_arguments(stats)
    stats.add_argument("--json", action="store_true", help="print JSON")
    return parser


def cmd_datasets(args) -> None:
    width = max(map(len, DATASETS))
    for key, info in DATASETS.items():
        print(f"{key:<{width}}  {info.description}")


def cmd_stats(args) -> None:
    dataset = load_dataset(args.dataset, args.root, format=args.format, cache=not args.no_cache)
    stats = dataset.stats()
    if args.json:
        print(json.dumps(stats))
        return
    for key, value in stats.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
        print(f"{key:<20} {value}")


COMMANDS = {"datasets": cmd_datasets, "stats": cmd_stats}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        COMMANDS[args.command](args)
    except GraphSBRError as error:
        print(f"graphsbr: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("graphsbr: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
