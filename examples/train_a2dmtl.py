"""Train A²D-MTL (attribute association driven multi-task learning) and print its validation and test metrics.

    python examples/train_a2dmtl.py                                    # built-in synthetic set, under 2 minutes
    python examples/train_a2dmtl.py --dataset diginetica --root ../shared/data --budget-minutes 45 \
        --set epoch_steps=600 --set report_test=true                   # validate (and log test) every 600 steps
    python examples/train_a2dmtl.py --set use_category=false           # the w/o CATE ablation
    python examples/train_a2dmtl.py --set category_graph=false         # w/o EXP
    python examples/train_a2dmtl.py --set sparse_attention=false       # w/o SPA (adaptive_alpha=false: w/o AdaSPA)
    python examples/train_a2dmtl.py --set score_scale=0                # eq. 21's literal dot product

Every model and trainer setting can be given with ``--set key=value`` (``graphsbr train --model a2dmtl`` takes the
same); the paper's settings are the defaults: d = 256, batch 100, Adam lr 1e-3 decayed by 0.8 every 3 epochs,
L2 1e-5, lambda = 0.25; items are scored by 20 × the cosine (MSGAT's code; clearly better on validation than the
plain dot product, see benchmarks/RESULTS.md). On the synthetic set the example uses d = 64 and 3 epochs, so that it finishes quickly.
"""
from _runner import run  # examples/_runner.py, beside this script

#: Defaults for the built-in synthetic set, sized to finish in under 2 minutes on 2 CPU cores (d = 64 instead of the
#: paper's 256, which takes 80 s an epoch there). Fixed epochs, no time budget: the same numbers on every machine.
SYNTHETIC = {"epochs": 3, "dim": 64}


def main(argv=None):
    return run("a2dmtl", "A2D-MTL", __doc__, SYNTHETIC, "neighbours=20", argv)


if __name__ == "__main__":
    main()
