"""What every ``examples/train_<model>.py`` shares: its command line, its settings and its table of metrics."""
import argparse
import logging

from graphsbr.train.config import parse_assignments
from graphsbr.train.run import build_trainer

METRICS = ("hr@5", "hr@10", "hr@20", "mrr@5", "mrr@10", "mrr@20", "ndcg@5", "ndcg@10", "ndcg@20")


def parse_args(doc: str, synthetic: dict, example_setting: str, argv=None):
    """The options; ``doc`` (the example's docstring) gives the description and the epilog."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(doc.splitlines()[2:]))
    parser.add_argument("--dataset", default="synthetic", help="dataset key (synthetic, diginetica, tmall, ...)")
    parser.add_argument("--root", default=None, help="data root holding one folder per dataset (default datasets/)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"most epochs (default: {synthetic['epochs']} on synthetic, else the model's)")
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="stop after the epoch in which this budget runs out (default: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", default=None, help="run folder (checkpoints, metrics.jsonl, results.json)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help=f"a model, trainer or data.* setting, e.g. --set {example_setting} (repeatable)")
    return parser.parse_args(argv)


def settings_of(args, synthetic: dict) -> dict:
    """``synthetic`` on the built-in set, then the options, then ``--set``."""
    settings = dict(synthetic) if args.dataset == "synthetic" else {}
    settings.update({"seed": args.seed, "device": args.device})
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    if args.budget_minutes is not None:
        settings["budget_minutes"] = args.budget_minutes
    settings.update(parse_assignments(args.settings))
    return settings


def print_table(label: str, results: dict) -> None:
    print(f"\n{label} on {results['dataset']}: best epoch {results['best_epoch']} of {results['epochs_run']}, "
          f"{results['train_samples_per_second']:.0f} training samples/s, "
          f"{results['num_parameters']:,} parameters")
    print(f"{'metric':<10}{'valid':>10}{'test':>10}")
    for metric in METRICS:
        print(f"{metric:<10}{results['valid'][metric]:>10.4f}{results['test'][metric]:>10.4f}")


def run(model: str, label: str, doc: str, synthetic: dict, example_setting: str, argv=None) -> dict:
    """Trains ``model`` as the command line says, logging every epoch, and prints the valid and test table."""
    args = parse_args(doc, synthetic, example_setting, argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    trainer = build_trainer(model, args.dataset, args.root, settings_of(args, synthetic), args.out)
    print(trainer.dataset)
    print(trainer.model)
    results = trainer.fit()
    print_table(label, results)
    return results
