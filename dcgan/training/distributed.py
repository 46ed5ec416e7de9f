"""Data-parallel training under torchrun: which process this is, and the few collectives the loop needs.

`torchrun --nproc_per_node=N -m dcgan train ...` starts N copies of the trainer; torchrun's
RANK / WORLD_SIZE / LOCAL_RANK variables tell each which it is. A plain `python -m dcgan train` is
world size 1 and never touches torch.distributed. Every process sees the whole global batch order
and the whole z stream and keeps only its share, so a run's data and noise do not depend on the world
size and a checkpoint resumes under any number of processes.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process writes the run directory and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, n_global: int) -> slice:
        """This process's rows of a global batch of n_global."""
        n = n_global // self.world_size
        return slice(self.rank * n, (self.rank + 1) * n)

    def mean_(self, t: torch.Tensor) -> torch.Tensor:
        """In place: the mean of t over all processes (statistics every process must agree on, since
        the adaptive learning rates are computed from them)."""
        if self.distributed:
            dist.all_reduce(t)
            t /= self.world_size
        return t

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every process when it is true on any: a stop asked of one process (the STOP file
        is seen by the main one, SIGTERM may reach only some) stops all at the same step."""
        if not self.distributed:
            return flag
        t = torch.tensor([float(flag)], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def share(self, obj):
        """The main process's obj, on every process."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


SINGLE = World()


def world_from_env() -> World:
    """What torchrun says about this process; SINGLE when not launched by torchrun."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return SINGLE
    if world_size <= 1:
        return SINGLE
    return World(rank, world_size, local_rank)


def start(world: World, device: torch.device) -> None:
    """Join the process group: NCCL between GPUs, gloo on CPU."""
    if not world.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(world.local_rank)
    # a peer that died leaves the others waiting in a collective: give up after minutes, not the
    # default half hour (torchrun stops the whole group when one process fails anyway)
    dist.init_process_group(backend, timeout=datetime.timedelta(minutes=5))


def stop(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """The module DistributedDataParallel averages the gradients of; itself in a single process."""
    if not world.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP
    ids = [device.index] if device.type == "cuda" else None
    return DDP(module, device_ids=ids)


def weights_checksum(*modules: torch.nn.Module) -> float:
    return float(sum(p.detach().double().sum() for m in modules for p in m.parameters()))


def check_in_step(world: World, *modules: torch.nn.Module, device: torch.device) -> None:
    """Raise if the processes' weights have drifted apart (they must be equal after every step:
    DDP averages the gradients and the learning rates come from averaged statistics)."""
    if not world.distributed:
        return
    sums = torch.tensor([weights_checksum(*modules)], dtype=torch.float64, device=device)
    low, high = sums.clone(), sums.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if abs(high.item() - low.item()) > 1e-6 * max(1.0, abs(high.item())):
        raise RuntimeError(f"the {world.world_size} processes' weights differ (checksums {low.item()!r} to "
                           f"{high.item()!r}): data-parallel training is out of step")
