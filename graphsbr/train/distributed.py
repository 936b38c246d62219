"""Data-parallel training with PyTorch's own engine: ``torchrun`` starts the processes, ``torch.distributed`` joins
them, :class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients.

``torchrun --nproc_per_node N -m graphsbr train …`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (and the
rendezvous); :func:`setup` reads them and joins the group (gloo on the CPU, NCCL on CUDA, ``cuda:LOCAL_RANK`` per
process). A plain ``graphsbr train`` sees no ``WORLD_SIZE`` and runs as one process, unchanged.

How the trainer divides the work (:class:`~graphsbr.train.Trainer`):

* **Training.** Every rank draws the same shuffled order of the training samples and takes its share of each
  *global* batch (``batch[rank::world]``), so ``batch_size``, the steps per epoch and the learning rate keep their
  single-process meaning, and resuming after step ``k`` works as in one process. A last global batch smaller than
  the number of processes is skipped (it would leave a rank without a sample).
* **Evaluation.** Every rank ranks its share of the split; the metric sums and counts are added across ranks, so
  the metrics equal a single-process evaluation (up to the order of float64 additions). The test samples' ranks
  (``ranks.pt``) are gathered back into split order.
* **Global graphs and memories** are built identically on every rank from the training split (the same data, the
  same code): nothing is sent.
* **Outputs.** Rank 0 alone writes the run folder and logs; the others keep the best weights in memory. Resuming
  reads ``last.pt`` on every rank, so the run folder must be visible to all of them (one node, or a shared file
  system).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError


@dataclass(frozen=True)
class Group:
    """Where this process stands: ``rank`` of ``world`` processes (``world == 1``: not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, values: torch.Tensor) -> torch.Tensor:
        """This rank's share of ``values`` (every ``world``-th element from ``rank``)."""
        return values[self.rank::self.world] if self.distributed else values

    def unshard(self, share: torch.Tensor, total: int) -> torch.Tensor:
        """The inverse of :meth:`shard`: every rank's ``share`` of a 1-d tensor of ``total`` elements, put back in
        order (on every rank; a collective call)."""
        if not self.distributed:
            return share
        longest = -(-total // self.world)
        padded = share.new_zeros(longest)
        padded[:len(share)] = share
        shares = [torch.empty_like(padded) for _ in range(self.world)]
        dist.all_gather(shares, padded)
        whole = share.new_empty(total)
        for rank, part in enumerate(shares):
            whole[rank::self.world] = part[:len(range(rank, total, self.world))]
        return whole

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the ranks (in place; returned)."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when ``flag`` is true on one of them (a decision all ranks must share)."""
        if not self.distributed:
            return flag
        return bool(self.sum(torch.tensor([float(flag)], device=device)).item() > 0)


def setup(device: str) -> tuple[Group, str]:
    """Joins the process group ``torchrun`` describes in the environment (once per process).

    Returns:
        the group, and the device this process uses (``cuda:LOCAL_RANK`` when ``device`` is ``cuda``).

    Raises:
        ConfigError: ``device`` names one CUDA device (``cuda:1``) under several processes, or the backend is missing.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Group(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.device(device).type == "cuda"
    if cuda:
        if torch.device(device).index is not None:
            raise ConfigError(f"device {device} names one GPU, but torchrun started {world} processes; "
                              "pass device=cuda and each process takes cuda:LOCAL_RANK")
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        backend = "nccl" if cuda else "gloo"
        if not dist.is_backend_available(backend):
            raise ConfigError(f"torch.distributed backend {backend} is not available in this torch build")
        dist.init_process_group(backend)
    return Group(rank, world, local_rank), device


def teardown() -> None:
    """Leaves the process group (at the end of a distributed ``graphsbr train``)."""
    if dist.is_initialized():
        dist.barrier()  # every rank is done with the group before it goes
        dist.destroy_process_group()


__all__ = ["Group", "setup", "teardown"]
