"""Train ASIF (fused attention with untied positions + representation alignment) and print its validation and test
metrics.

    python examples/train_asif.py                                      # built-in synthetic set, under 2 minutes
    python examples/train_asif.py --dataset beauty --root ../shared/data --budget-minutes 60
    python examples/train_asif.py --set rsa=false                      # w/o RSA (Table 4)
    python examples/train_asif.py --set hie=false                      # w/o HIE
    python examples/train_asif.py --set untied_positions=false         # w/o UP
    python examples/train_asif.py --set fused_attention=false          # w/o FA
    python examples/train_asif.py --set fusion=gate                    # fusion function (Fig. 7: sum, concat, gate)
    python examples/train_asif.py --set contrastive_weight=1 --set num_bases=24   # lambda and r (Fig. 6)
    python examples/train_asif.py --set item_encoder=gat               # item table from a GAT over the item graph
    python examples/train_asif.py --dataset beauty --root ../shared/data \
        --set side_fields=category --set side_pooling=sum             # the paper's side information on Beauty

Every model and trainer setting can be given with ``--set key=value`` (``graphsbr train --model asif`` takes the
same); the paper's settings are the defaults: max length 50, d = 256, 3 layers, 4 heads, Adam lr 1e-4, batch 2048,
up to 200 epochs, stopped after 10 without a better validation NDCG@20 (the epoch it selects), lambda = 10, r = 16
(choose lambda in {0.1, 0.5, 1, 5, 10, 100} and r in {4, ..., 24} on validation). On Beauty the paper feeds the item
categories; the default side field there is S3-Rec's ``attribute`` (categories and brand merged). On the synthetic
set the example uses d = 64, batch 256, lr 1e-3 and 1 epoch (about 75 s on one core), so that it finishes quickly.
"""
from _runner import run  # examples/_runner.py, beside this script

#: Defaults for the built-in synthetic set, sized to finish in under 2 minutes on 2 CPU cores. Fixed epochs, no time
#: budget: the same numbers on every machine.
SYNTHETIC = {"epochs": 1, "dim": 64, "batch_size": 256, "lr": 1e-3}


def main(argv=None):
    return run("asif", "ASIF", __doc__, SYNTHETIC, "fusion=gate", argv)


if __name__ == "__main__":
    main()
