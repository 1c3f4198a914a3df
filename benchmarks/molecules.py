"""Denoiser throughput on real QM9 batches: training (forward + backward) and forward molecules/s.

    python benchmarks/molecules.py [--batch-size 64] [--repeats 3] [--device cpu|cuda] [--threads 1]

Prints one row per denoiser with its parameter count (the two default configurations have similar size) and,
on CUDA, peak allocated memory. Sampling speed and quality versus NFE need the core's DiffusionModule and
follow later.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from domains.molecules.data import MoleculeDataModule
from domains.molecules.denoisers import EGNNDenoiser, EQGATDenoiser

DENOISERS = {
    "egnn": lambda: EGNNDenoiser(hidden_dim=128, edge_dim=32, num_layers=6),
    "eqgat": lambda: EQGATDenoiser(hidden_dim=128, vector_dim=32, edge_dim=32, num_layers=6),
}


def one_hot_inputs(fields: dict, device: str) -> dict:
    return {"pos": fields["pos"].to(device),
            "atom_types": F.one_hot(fields["atom_types"], 5).float().to(device),
            "charges": F.one_hot(fields["charges"], 3).float().to(device),
            "bonds": F.one_hot(fields["bonds"], 5).float().to(device)}


def rate(step, count: int, repeats: int, device: str) -> float:
    step()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return repeats * count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    module = MoleculeDataModule(max_molecules=4 * args.batch_size, batch_size=args.batch_size)
    fields, context = next(iter(module.train_dataloader()))
    x_t = one_hot_inputs(fields, args.device)
    context = {"node_mask": context["node_mask"].to(args.device)}
    t = torch.rand(args.batch_size, generator=torch.Generator().manual_seed(0)).to(args.device)
    print(f"device={args.device} threads={args.threads} batch={args.batch_size} max_atoms={x_t['pos'].shape[1]}")
    print(f"{'denoiser':10s} {'params':>9s} {'train mol/s':>12s} {'forward mol/s':>14s} {'peak MiB':>9s}")
    for name, build in DENOISERS.items():
        torch.manual_seed(0)
        net = build().to(args.device)
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()

        def train_step(net=net):
            out = net(x_t, t, context)
            sum(v.square().mean() for v in out.values()).backward()

        def forward_step(net=net):
            with torch.no_grad():
                net(x_t, t, context)

        train = rate(train_step, args.batch_size, args.repeats, args.device)
        forward = rate(forward_step, args.batch_size, args.repeats, args.device)
        peak = torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else float("nan")
        params = sum(p.numel() for p in net.parameters())
        print(f"{name:10s} {params:9d} {train:12.1f} {forward:14.1f} {peak:9.1f}")


if __name__ == "__main__":
    main()
