"""Training and evaluation throughput of one model on one dataset, after warm-up, with the paper's settings.

    python benchmarks/throughput.py --model a2dmtl --dataset diginetica --root ../shared/data --threads 2

Runs ``--warmup`` training steps, times ``--steps`` more (forward, backward, Adam) and ``--eval-batches`` test
batches, and prints seconds per step, training and evaluation samples/s and the minutes one pass over the training
samples would take. ``--set key=value`` changes a model or trainer setting.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from graphsbr.models.base import targets_of
from graphsbr.train.config import parse_assignments
from graphsbr.train.run import build_trainer
from graphsbr.train.trainer import refresh_memory


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--root", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--eval-batches", type=int, default=10)
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    trainer = build_trainer(args.model, args.dataset, args.root,
                            {"progress": "false", "threads": args.threads, **parse_assignments(args.settings)})
    model, config = trainer.model, trainer.config
    refresh_memory(model, trainer.dataset, config.eval_batch_size, trainer.device)
    model.train()
    batches = iter(trainer.loader("train", shuffle_seed=0, batch_size=config.batch_size))
    samples, start = 0, 0.0
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            samples, start = 0, time.perf_counter()
        batch = next(batches)
        loss, _ = model.loss(batch)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        samples += int(targets_of(batch).count_nonzero())
    train_seconds = time.perf_counter() - start
    model.eval()
    evaluated, start = 0, time.perf_counter()
    with torch.no_grad():
        for number, batch in enumerate(trainer.loader("test", batch_size=trainer.eval_batch_size())):
            if number == args.eval_batches:
                break
            model(batch)
            evaluated += int(targets_of(batch).numel())
    eval_seconds = time.perf_counter() - start
    rate = samples / train_seconds
    print(json.dumps({"model": args.model, "dataset": args.dataset, "threads": args.threads,
                      "batch_size": config.batch_size, "step_s": round(train_seconds / args.steps, 3),
                      "train_samples_s": round(rate, 1), "eval_samples_s": round(evaluated / eval_seconds, 1),
                      "train_pass_min": round(trainer.dataset.train.num_samples / rate / 60, 1)}))


if __name__ == "__main__":
    main()
