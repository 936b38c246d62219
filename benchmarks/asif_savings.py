"""What ASIF's exact savings save: seconds of its training step at batch 2,048 on Beauty, one thread (the savings'
equality tests are in ``tests/models/test_asif.py``).

    python benchmarks/asif_savings.py --root ../shared/data --parts
    PYTHONPATH=DIR python benchmarks/asif_savings.py --root ../shared/data --step [--set key=value ...]

``--parts`` runs, in one process on the same batches and weights, RSA alone (eq. 7–9, forward and backward) on the
whole padded batch and by width group, then the loss and backward of a step with each saving off and on (the old
computations are the ones the tests compare with: ``alignment_terms`` on the whole batch and
``encode(readout=False)``), with the position stream shared and per sequence; the ways alternate from batch to
batch. ``--step`` times whole training steps (loss, backward, Adam) of the code on ``PYTHONPATH`` (e.g. an archive of
an older commit), for before/after comparisons across processes. CPU seconds (``time.process_time``, steadier than
wall time on a shared machine), medians over the batches after the first. The side field is ``attribute``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def timed(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def parts(batches, model, asif) -> dict:
    from graphsbr.models.base import cross_entropy, gather_last

    def whole_rsa(x, a, mask, tau):
        return -asif.alignment_terms(mask, x, a, tau).sum(1).mean() / 2

    def step(batch, rsa, readout, shared):
        model.config.shared_position_dropout = shared
        model.zero_grad()
        table = model.item_encoder()
        x, a, aligned = model.embed(batch, table)
        states = model.encode(batch, x, a, readout=readout)
        states = states if readout else gather_last(states, batch.lengths)
        loss = cross_entropy(states @ table.T, batch.targets) + model.config.contrastive_weight * rsa(
            x, a, aligned, model.temperature)
        loss.backward()

    def rsa_alone(batch, rsa):
        with torch.no_grad():
            x, a, aligned = model.embed(batch, model.item_encoder())
        x, a = x.requires_grad_(), a.requires_grad_()
        rsa(x, a, aligned, model.temperature.detach()).backward()

    ways = {"RSA alone, whole batch": lambda b: rsa_alone(b, whole_rsa),
            "RSA alone, by width": lambda b: rsa_alone(b, asif.alignment_loss),
            "step, both savings off": lambda b: step(b, whole_rsa, False, True),
            "step, RSA by width": lambda b: step(b, asif.alignment_loss, False, True),
            "step, RSA by width + read-out": lambda b: step(b, asif.alignment_loss, True, True),
            "step, both + positions per sequence": lambda b: step(b, asif.alignment_loss, True, False)}
    names, times = list(ways), {name: [] for name in ways}
    for i, batch in enumerate(batches):
        for name in names[i % len(names):] + names[:i % len(names)]:
            times[name].append(timed(lambda: ways[name](batch)))
    return {name: round(statistics.median(t[1:]), 3) for name, t in times.items()}


def steps(batches, model) -> dict:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(batch):
        loss, _ = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    seconds = [timed(lambda: step(batch)) for batch in batches]
    median = statistics.median(seconds[1:])
    return {"step_s": round(median, 3), "samples_per_s": round(batches[0].items.size(0) / median, 1)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data")
    parser.add_argument("--parts", action="store_true", help="each saving on and off, in one process")
    parser.add_argument("--step", action="store_true", help="whole training steps of the code on PYTHONPATH")
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    import graphsbr
    from graphsbr.data.collate import collate_sequences
    from graphsbr.models import asif
    from graphsbr.models.base import make_config

    dataset = graphsbr.load_dataset("beauty", args.root, cache=False)
    settings = {"side_fields": "attribute", **dict(pair.split("=", 1) for pair in args.settings)}
    torch.manual_seed(0)
    model = asif.ASIF.from_dataset(dataset, make_config(asif.ASIFConfig, settings)).train()
    order = torch.randperm(dataset.train.num_samples, generator=torch.Generator().manual_seed(0))
    size = args.batch_size
    batches = [collate_sequences(dataset.train, dataset.train.samples[order[i * size:(i + 1) * size]], 50,
                                 dataset.side) for i in range(args.batches)]
    result = {"batch_size": size, "settings": settings}
    if args.parts:
        result["parts_cpu_s"] = parts(batches, model, asif)
    if args.step:
        result.update(steps(batches, model))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
