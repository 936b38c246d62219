"""Peak memory and seconds of full-ranking evaluation over a large synthetic catalogue.

    python benchmarks/eval_memory.py --num-items 400000 --model gru4rec

Builds the synthetic dataset with about ``--num-items`` items (those that occur), an untrained model of ``--model`` (evaluation cost does
not depend on the weights), and evaluates the test split once with the trainer's evaluator, whose batches are sized
so that their scores hold at most ``SCORE_ELEMENTS`` floats. Prints the dataset, the evaluation batch size, the
seconds, and the process's peak resident memory before and after (Linux ``VmHWM``, reset before evaluating).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from graphsbr import load_dataset
from graphsbr.data.dataset import SessionSplit
from graphsbr.models import MODELS
from graphsbr.train import TrainConfig, Trainer
from graphsbr.train.config import model_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import reset_peak, status_mb


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-items", type=int, default=400_000)
    parser.add_argument("--num-sessions", type=int, default=400_000)
    parser.add_argument("--min-item-count", type=int, default=1,
                        help="the protocol's item filter (1 keeps every item, so the catalogue is --num-items)")
    parser.add_argument("--test-samples", type=int, default=20_000,
                        help="evaluate the first this many test samples (memory is per batch; 0: all)")
    parser.add_argument("--model", default="gru4rec")
    parser.add_argument("--dim", type=int, default=64)
    args = parser.parse_args(argv)
    dataset = load_dataset("synthetic", num_items=args.num_items, num_sessions=args.num_sessions,
                           min_item_count=args.min_item_count, cache=False)
    if args.test_samples:
        test = dataset.test
        dataset.test = SessionSplit(test.ptr, test.items, test.samples[: args.test_samples], test.timestamps,
                                    test.fields)
    cls = MODELS[args.model]
    torch.manual_seed(0)
    model = cls.from_dataset(dataset, model_config(cls, {"dim": args.dim}))
    trainer = Trainer(model, dataset, TrainConfig(progress=False))
    before = status_mb("VmRSS")
    reset_peak()
    start = time.perf_counter()
    metrics = trainer.evaluate("test")
    seconds = time.perf_counter() - start
    print(json.dumps({"num_items": dataset.num_items, "test_samples": dataset.test.num_samples,
                      "model": args.model, "dim": args.dim, "eval_batch_size": trainer.eval_batch_size(),
                      "seconds": round(seconds, 1), "rss_before_mb": round(before),
                      "peak_rss_during_mb": round(status_mb("VmHWM")),
                      "scores_one_batch_mb": round(trainer.eval_batch_size() * (dataset.num_items + 1) * 4 / 2**20),
                      "hr@20": round(metrics["hr@20"], 5)}))


if __name__ == "__main__":
    main()
