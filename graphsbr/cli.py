"""The ``graphsbr`` command. Bad input exits non-zero with one line, never a traceback."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .data import DATASETS, download_dataset, find_dataset, load_dataset
from .data.download import MIRROR_VARIABLE
from .data.load import DEFAULT_ROOT
from .errors import ConfigError, DataError, GraphSBRError
from .train.config import RUN_ONLY


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="synthetic", help="dataset key (see `graphsbr datasets`)")
    parser.add_argument("--root", default=None, help="data root holding <root>/<key>/ (default: datasets/)")
    parser.add_argument("--format", default=None, help="force a reader instead of recognising the files")
    parser.add_argument("--no-cache", action="store_true", help="ignore and do not write the processed cache")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphsbr", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("models", help="list the models")
    datasets = commands.add_parser("datasets", help="list the dataset keys: present under the root? downloadable?")
    datasets.add_argument("--root", default=None, help="data root holding <root>/<key>/ (default: datasets/)")
    download = commands.add_parser("download", help="fetch public datasets: pinned URLs, SHA-256 checked, resumable")
    download.add_argument("keys", nargs="+", metavar="KEY", help="dataset keys (see `graphsbr datasets`)")
    download.add_argument("--root", default=None, help="data root: files go to <root>/<key>/ (default: datasets/)")
    download.add_argument("--mirror", default=None, metavar="URL",
                          help="a mirror serving OWNER/REPO/COMMIT/PATH in place of raw.githubusercontent.com "
                               f"(default: ${MIRROR_VARIABLE} when set)")
    download.add_argument("--quiet", action="store_true", help="no progress bars")
    stats = commands.add_parser("stats", help="statistics of a dataset after its protocol")
    _add_data_arguments(stats)
    stats.add_argument("--json", action="store_true", help="print JSON")

    train = commands.add_parser("train", help="train a model, select the epoch on validation, report test")
    train.add_argument("--model", required=False, help="model name (see `graphsbr models`)")
    train.add_argument("--dataset", default=None, help="dataset key (default: synthetic)")
    train.add_argument("--root", default=None, help="data root (default: datasets/)")
    train.add_argument("--config", default=None,
                       help="YAML file of settings (model, dataset, root, key: value), or a run folder's "
                            "config.yaml (trains that run again)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a model or trainer setting, or data.OPTION for the dataset (repeatable)")
    for flag, kind in (("--epochs", int), ("--budget-minutes", float), ("--batch-size", int), ("--seed", int)):
        train.add_argument(flag, type=kind, default=None)
    train.add_argument("--device", default=None, help="cpu or cuda")
    train.add_argument("--out", default=None, help="run folder (default: runs/<model>-<dataset>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    train.add_argument("--quiet", action="store_true", help="no progress bars")

    refit = commands.add_parser("refit", help="retrain a finished session-protocol run on train + valid for its "
                                              "selected length, report test")
    refit.add_argument("--run", required=True, help="the finished run folder (its results.json)")
    refit.add_argument("--out", default=None, help="the refit's run folder (default: <run>-refit)")
    refit.add_argument("--resume", action="store_true", help="continue the refit in --out where it stopped")
    refit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help=f"how the refit runs: {', '.join(RUN_ONLY)} (repeatable)")
    refit.add_argument("--device", default=None, help="cpu or cuda")
    refit.add_argument("--quiet", action="store_true", help="no progress bars")

    evaluate = commands.add_parser("evaluate", help="evaluate a run's selected weights")
    evaluate.add_argument("--run", required=True)
    evaluate.add_argument("--split", default="test", choices=["test", "valid"])
    evaluate.add_argument("--device", default=None)
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--by", choices=["repeat"], default=None,
                          help="repeat: the metrics of all targets, of re-clicks of an item in the prefix, and of "
                               "new items, apart (the test split reads the run's ranks.pt when it has one)")
    evaluate.add_argument("--ranks", action="store_true",
                          help="also write the test samples' ranks to the run's ranks.pt (for runs made without it)")

    recommend = commands.add_parser("recommend", help="top-k next items for a session")
    recommend.add_argument("--run", required=True)
    recommend.add_argument("--items", required=True, help='the session\'s item ids in click order, e.g. "12 7 301"')
    recommend.add_argument("-k", type=int, default=20)
    recommend.add_argument("--json", action="store_true")

    search = commands.add_parser("search", help="an Optuna study of a model's settings, ranked on validation "
                                                '(pip install "graphsbr[search]")')
    search.add_argument("--model", required=True, help="model name (see `graphsbr models`)")
    search.add_argument("--dataset", default="synthetic", help="dataset key (default: synthetic)")
    search.add_argument("--root", default=None, help="data root (default: datasets/)")
    search.add_argument("--space", required=True, metavar="SPACE.yaml",
                        help="setting -> list of choices, or range {low, high, log, step}")
    search.add_argument("--trials", type=int, required=True,
                        help="trials in total, counting those of earlier runs into --out")
    search.add_argument("--out", required=True, help="the study's folder: study.db, trial-NNNN/ run folders, summary")
    search.add_argument("--jobs", type=int, default=1, help="worker processes sharing the study")
    search.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a fixed setting of every trial, as for train (repeatable)")

    plot = commands.add_parser("plot", help="learning curves of runs as a PNG")
    plot.add_argument("--run", nargs="+", required=True, metavar="[LABEL=]RUN",
                      help="run folders, each optionally named for the legend (default: the folder's name)")
    plot.add_argument("--out", default=None, help="the PNG (default: <first run>/curves.png)")
    plot.add_argument("--x", choices=("samples", "epoch"), default="samples",
                      help="the x axis: training samples seen (default; runs with epochs of different sizes line up) "
                           "or the epoch")
    return parser


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def cmd_datasets(args) -> None:
    root = Path(args.root or DEFAULT_ROOT)
    width = max(map(len, DATASETS))
    print(f"{'key':<{width}}  {'present':<8} {'download':<9} description   (root: {root})")
    for key, info in DATASETS.items():
        present = "built in" if key == "synthetic" else "yes" if find_dataset(key, root) else "no"
        download = _megabytes(info.download_size) if info.files else "manual" if info.originals else "-"
        print(f"{key:<{width}}  {present:<8} {download:<9} {info.description}")
    print("download: `graphsbr download KEY`; manual: the originals need a login (`graphsbr download KEY` says where)")


def cmd_download(args) -> None:
    unknown = [key for key in args.keys if key not in DATASETS]
    if unknown:
        raise DataError(f"unknown dataset(s) {', '.join(unknown)}: known datasets are {', '.join(DATASETS)}")
    root = Path(args.root or DEFAULT_ROOT)
    for key in args.keys:
        info = DATASETS[key]
        paths = download_dataset(key, root, mirror=args.mirror, progress=not args.quiet)
        if paths:
            print(f"{key}: {len(paths)} files ({_megabytes(info.download_size)}) verified in {root / key}")
        elif info.originals is not None:
            print(f"{key}: present in {root / key}")
        else:
            print(f"{key}: built in, nothing to download")
        if info.files and info.originals is not None:
            print(f"  raw: {info.originals.instructions(root / key / 'raw')}, and read them with "
                  f"--format {info.formats[-1]}")


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


def cmd_models(args) -> None:
    from .models import load_plugins

    models = load_plugins()
    width = max(map(len, models))
    for name, cls in models.items():
        doc = (cls.__doc__ or "").strip().splitlines()
        print(f"{name:<{width}}  {cls.batch_kind:<8}  {doc[0] if doc else ''}")


def _same_as_recorded(key: str, value, settings: dict) -> bool:
    """Whether a ``--set`` value (a string) equals what the run's config.yaml records for ``key``."""
    from .models.base import coerce

    if key not in settings:
        return False
    try:
        return coerce(value, settings[key], key) == settings[key]
    except ConfigError:
        return False


def cmd_train(args) -> None:
    from .train.config import RESUMABLE, parse_assignments
    from .train.run import build_trainer, read_config, read_run_config

    if args.resume:
        if not args.out:
            raise ConfigError("--resume needs --out, the run folder to continue")
        model, dataset, root, settings = read_run_config(args.out)
        changes = parse_assignments(args.set)
        changes.update({k: v for k, v in (("batch_size", args.batch_size), ("seed", args.seed)) if v is not None})
        # a setting repeated with the value the run records changes nothing (reproduce.py resumes that way)
        fixed = sorted(k for k, v in changes.items() if k not in RESUMABLE and not _same_as_recorded(k, v, settings))
        if fixed:
            raise ConfigError(f"--resume continues the run that {args.out}/config.yaml records; a new "
                              f"{', '.join(fixed)} would change what it learns (on --resume only "
                              f"{', '.join(RESUMABLE)} may change): start a new run with another --out")
        settings.update(changes)
    else:
        saved_model, saved_dataset, saved_root, settings = (
            read_config(args.config) if args.config else (None, None, None, {}))
        model = args.model or saved_model
        dataset = args.dataset or saved_dataset or "synthetic"
        root = args.root or saved_root
        if not model:
            raise ConfigError("--model is required (see `graphsbr models`)")
        settings.update(parse_assignments(args.set))
    flags = {"epochs": args.epochs, "budget_minutes": args.budget_minutes, "batch_size": args.batch_size,
             "seed": args.seed, "device": args.device}
    settings.update({k: v for k, v in flags.items() if v is not None})
    if args.quiet:
        settings["progress"] = False
    out = Path(args.out or f"runs/{model}-{dataset}")
    trainer = build_trainer(model, dataset, root, settings, out)
    _fit_and_print(trainer, args.resume, out)


def _fit_and_print(trainer, resume: bool, out: Path) -> None:
    from .train.distributed import teardown

    try:
        results = trainer.fit(resume=resume)
    finally:
        teardown()
    if trainer.group.main:
        _print_results(results, out)


#: how a run's ``results.json`` ``stopped`` reads
STOPPED = {"patience": " (early stop)", "epochs": " (epoch cap)", "budget": " (time budget)",
           "steps": " (the selected length: a refit)"}


def _print_results(results: dict, out: Path | None = None) -> None:
    names = list(results["test"])
    stopped = STOPPED.get(results.get("stopped"), "")
    print(f"{results['model']} on {results['dataset']} ({results['protocol']}): best epoch {results['best_epoch']} "
          f"of {results['epochs_run']}{stopped}, {results['train_samples_per_second']:.0f} samples/s, "
          f"test evaluated in {results['eval_seconds']:.2f} s")
    print(f"{'':<6}" + "".join(f"{n:>9}" for n in names))
    for split in ("valid", "test"):
        if results[split]:  # a refit has no validation split
            print(f"{split:<6}" + "".join(f"{results[split][n]:>9.4f}" for n in names))
    if out is not None:
        print(f"run folder: {out}")


def cmd_refit(args) -> None:
    from .train.config import parse_assignments
    from .train.run import build_refit, build_trainer, read_run_config

    out = Path(args.out or f"{str(args.run).rstrip('/')}-refit")
    changes = parse_assignments(args.set)
    if args.device is not None:
        changes["device"] = args.device
    if args.quiet:
        changes["progress"] = False
    other = sorted(set(changes) - set(RUN_ONLY))
    if other:
        raise ConfigError(f"refit repeats the run's settings; {', '.join(other)} would change what it learns "
                          f"(only {', '.join(RUN_ONLY)} may change): train a new run instead")
    if args.resume:
        model, dataset, root, settings = read_run_config(out)
        trainer = build_trainer(model, dataset, root, {**settings, **changes}, out)
    else:
        trainer = build_refit(args.run, out, changes)
    _fit_and_print(trainer, args.resume, out)


def cmd_evaluate(args) -> None:
    from .train.run import load_run
    from .train.trainer import save_ranks

    if args.ranks and args.split != "test":
        raise ConfigError("--ranks writes the test split's ranks; drop --split valid")
    if args.by:
        return _evaluate_by_repeat(args)
    _, _, trainer = load_run(args.run, args.device)
    if trainer.dataset.split(args.split).num_samples == 0:
        raise ConfigError(f"{args.run} has no {args.split} split (a refit trains on the validation sessions)")
    ranks: list = []
    metrics = trainer.evaluate(args.split, ranks if args.ranks else None)
    if args.ranks:
        save_ranks(ranks, Path(args.run))
    if args.json:
        print(json.dumps(metrics))
        return
    for name, value in metrics.items():
        print(f"{name:<8} {value:.4f}")


def _evaluate_by_repeat(args) -> None:
    """``evaluate --by repeat``: the metrics of every target, of re-clicks and of new items (with their shares)."""
    import torch

    from .train.checkpoint import RANKS
    from .train.metrics import ranking_metrics
    from .train.run import load_run, load_run_dataset

    saved = Path(args.run) / RANKS
    if args.split == "test" and saved.is_file():  # the selected epoch's test ranks, written with results.json
        split = load_run_dataset(args.run).split(args.split)
        ranks = torch.load(saved, weights_only=True)["test"].long()
        if ranks.numel() != split.num_samples:
            raise DataError(f"{saved}: {ranks.numel()} ranks for {split.num_samples} test samples: not this run's "
                            "(rewrite it with `graphsbr evaluate --ranks`)")
    else:  # the selected weights, evaluated
        _, data, trainer = load_run(args.run, args.device)
        split = data.split(args.split)
        if split.num_samples == 0:
            raise ConfigError(f"{args.run} has no {args.split} split (a refit trains on the validation sessions)")
        batches: list = []
        trainer.evaluate(args.split, batches)
        ranks = torch.cat(batches).long()
    repeat = split.repeat_targets
    groups = {"all": torch.ones_like(repeat), "repeat": repeat, "new": ~repeat}
    table = {name: {"share": float(mask.float().mean()), **ranking_metrics(ranks[mask])}
             for name, mask in groups.items()}
    if args.json:
        print(json.dumps(table))
        return
    names = list(table["all"])
    print(f"{'target':<8}" + "".join(f"{n:>9}" for n in names))
    for name, row in table.items():
        print(f"{name:<8}" + "".join(f"{row[n]:>9.4f}" for n in names))


def cmd_recommend(args) -> None:
    from .train.recommend import recommend
    from .train.run import load_run

    try:
        items = [int(x) for x in args.items.replace(",", " ").split()]
    except ValueError:
        raise DataError(f"--items must be integer item ids, got {args.items!r}") from None
    model, dataset, trainer = load_run(args.run)
    top, scores = recommend(model, dataset, items, args.k, trainer.device)
    if args.json:
        print(json.dumps({"items": top, "scores": scores}))
        return
    for rank, (item, score) in enumerate(zip(top, scores), 1):
        print(f"{rank:>3}  item {item:<8} score {score:.4f}")


def cmd_search(args) -> None:
    from .train.config import parse_assignments
    from .train.search import format_params, search

    summary = search(args.model, args.dataset, args.space, args.trials, args.out, jobs=args.jobs, root=args.root,
                     settings=parse_assignments(args.set))
    counts = ", ".join(f"{count} {state}" for state, count in summary["counts"].items())
    print(f"{summary['model']} on {summary['dataset']}: {counts}")
    best = summary["best"]
    if best is None:
        print("no trial is complete")
    else:
        print(f"best: trial {best['number']}, valid {summary['metric']} {best['value']:.4f} with "
              f"{format_params(best['params'])} ({Path(args.out) / best['run_folder']})")
    print(f"summary: {Path(args.out) / 'summary.md'}")


def cmd_plot(args) -> None:
    from .train.plot import plot_runs
    from .train.run import labelled_folder

    named = [labelled_folder(run) for run in args.run]
    out = Path(args.out or named[0][1] / "curves.png")
    plot_runs([run for _, run in named], out, x=args.x, labels=[label or None for label, _ in named])
    print(f"wrote {out}")


COMMANDS = {"models": cmd_models, "datasets": cmd_datasets, "download": cmd_download, "stats": cmd_stats,
            "train": cmd_train, "evaluate": cmd_evaluate, "recommend": cmd_recommend, "search": cmd_search,
            "plot": cmd_plot, "refit": cmd_refit}


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
    except BrokenPipeError:  # `graphsbr models | head`: the reader left; stop quietly, and flush nothing at exit
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # a stdout without a file descriptor
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
