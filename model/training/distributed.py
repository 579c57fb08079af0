"""Training on several processes, on one machine or many, with PyTorch's DistributedDataParallel.

``torchrun`` (``python -m torch.distributed.run``) starts one process per device and sets
``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``; ``join()`` reads
them and initialises the process group. Every rank holds a whole copy of the model, and DDP
averages the gradients inside ``backward()``. The helpers here never move gradients: they keep
the ranks' *control flow* in step (same data, same number of steps, same stop decisions), because
a rank that takes one step more than the others waits for them forever.

Without torchrun (``WORLD_SIZE`` unset or 1, no process group) ``World()`` is inactive and every
helper returns its input unchanged, so single-process training is exactly what it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 when alone)."""

    rank: int = 0
    size: int = 1
    active: bool = False  # a process group is in use: wrap the model in DDP
    owns_group: bool = False  # join() created the group, so leave() destroys it
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # for collectives

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model to call in training steps: DDP around it, or the model itself.

        DDP broadcasts rank 0's parameters at construction and syncs only parameters that need
        gradients, so frozen embeddings simply stay out of its buckets.
        """
        if not self.active:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)

    def shard(self, batches: list[T]) -> list[T]:
        """This rank's share of a batch list that every rank built alike (same seed).

        Truncated so that every rank gets the same number: DDP needs every rank in every step.
        """
        if not self.active:
            return batches
        return batches[self.rank :: self.size][: len(batches) // self.size]

    def any(self, flag: bool) -> bool:
        """True on every rank when it is True on any rank (a cancel request, for instance)."""
        if not self.active:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def from_rank0(self, value: float) -> float:
        """Rank 0's value on every rank, so decisions taken on it cannot diverge even where
        ranks on different hardware compute slightly different floating-point results."""
        if not self.active:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.broadcast(t, src=0)
        return t.item()

    def object_from_rank0(self, obj: Any) -> Any:
        """Rank 0's (picklable) object on every rank; the other ranks may pass None."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self.device)
        return box[0]

    def check_same(self, what: str, values: dict[str, Any]) -> None:
        """Raise on every rank if any rank's ``values`` differ from rank 0's."""
        if not self.active:
            return
        gathered: list[Any] = [None] * self.size
        dist.all_gather_object(gathered, values)
        for rank, other in enumerate(gathered):
            differ = sorted(k for k in values if other.get(k) != gathered[0].get(k))
            if differ:
                raise ValueError(
                    f"rank {rank} has different {what} from rank 0 ({', '.join(differ)}); every "
                    "process must be started with the same arguments and the same data files"
                )

    def leave(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def join(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group that torchrun describes in the environment (or that the caller
    initialised already); returns the world and the device this rank trains on."""
    env_size = int(os.environ.get("WORLD_SIZE", "1"))
    if not dist.is_available() or (not dist.is_initialized() and env_size <= 1):
        return World(device=device), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"LOCAL_RANK {local_rank} but this machine has {torch.cuda.device_count()} CUDA "
                "device(s); start at most one process per GPU (torchrun --nproc_per_node)"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    elif dist.get_backend() == "nccl" and device.type != "cuda":
        raise ValueError("the process group uses NCCL, which needs device 'cuda' (or 'auto' on a GPU machine)")
    world = World(dist.get_rank(), dist.get_world_size(), True, owns, device)
    return world, device
