"""Seconds per training step of one model on one dataset, and the time of a memory refresh plus four evaluation
batches: a quick before/after check of a change to a step (``benchmarks/speed.py`` is the full table).

    python benchmarks/step_time.py --model a2dmtl --dataset diginetica --root ../shared/data --threads 1
    PYTHONPATH=/tmp/before python benchmarks/step_time.py ...        # the same on a worktree of an older commit
"""
from __future__ import annotations

import argparse
import json
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="a2dmtl")
    parser.add_argument("--dataset", default="tmall")
    parser.add_argument("--root", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=6, help="timed steps, after 2 warm-up steps")
    args = parser.parse_args()
    import graphsbr
    from graphsbr.train.run import build_trainer
    from graphsbr.train.trainer import refresh_memory

    torch.set_num_threads(args.threads)
    trainer = build_trainer(args.model, args.dataset, args.root, {"progress": "false", "threads": args.threads})
    model = trainer.model
    start = time.perf_counter()
    refresh_memory(model, trainer.dataset, 512)
    refresh = time.perf_counter() - start
    model.train()
    loader = trainer._train_loader()
    loader.shuffle_seed = 0
    batches = list(loader.batches(0, args.steps + 2))

    def step(batch):
        loss, _ = trainer.objective(batch)
        trainer.optimizer.zero_grad()
        loss.backward()
        trainer.optimizer.step()

    for batch in batches[:2]:
        step(batch)
    start, samples = time.perf_counter(), 0
    for batch in batches[2:]:
        step(batch)
        samples += int((batch.targets > 0).sum())
    train = time.perf_counter() - start
    start = time.perf_counter()  # evaluation as the trainer runs it: the refresh, eval mode, then the batches
    refresh_memory(model, trainer.dataset, 512)
    model.eval()
    with torch.no_grad():
        for i, batch in enumerate(trainer.loader("test", batch_size=512)):
            model(batch)
            if i == 3:
                break
    print(json.dumps({"package": graphsbr.__file__, "model": args.model, "dataset": args.dataset,
                      "threads": args.threads, "step_s": round(train / args.steps, 3),
                      "samples_s": round(samples / train, 1), "refresh_s": round(refresh, 2),
                      "eval_2048_s": round(time.perf_counter() - start, 2)}))


if __name__ == "__main__":
    main()
