"""A 4-rank gloo job where rank 2 never reaches the all_reduce: it waits for data."""

import queue
from datetime import timedelta

import torch
import torch.distributed as dist


def next_batch(batches):
    return batches.get(timeout=600)  # no producer: waits like a starved data loader


def data_step():
    return next_batch(queue.Queue())


def train_step(x):
    dist.all_reduce(x)
    return x


def main():
    dist.init_process_group("gloo", timeout=timedelta(seconds=600))
    x = torch.ones(4)
    if dist.get_rank() == 2:
        data_step()
    print(f"rank {dist.get_rank()} at the all_reduce", flush=True)
    train_step(x)


if __name__ == "__main__":
    main()
