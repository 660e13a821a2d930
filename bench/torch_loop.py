#!/usr/bin/python3
"""W1 as a plain PyTorch user would train it: one model after another, eager mode, torch.optim.Adam.

The reference the issue compares genzoo's W1 throughput with (`genzoo bench --workload W1`): linear
autoencoder 784 -> 16 -> 784, batch 64 drawn from the model's own 2000 samples, MSE, Adam lr 1e-3,
500 steps, float32, one thread. Images are uniform noise of Fashion-MNIST's shape (the cost does not
depend on the pixel values). Prints models/s.

    taskset -c 0 /usr/bin/python3 bench/torch_loop.py --models 8 [--workload W1]
Needs Debian's python3-torch (PyTorch 1.13, the same version as LibTorch here).
"""
import argparse
import time

import torch


def train_one(seed, steps, batch, samples, latent):
    torch.manual_seed(seed)
    data = torch.rand(samples, 784)
    model = torch.nn.Sequential(torch.nn.Linear(784, latent), torch.nn.Linear(latent, 784))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        x = data[torch.randint(0, samples, (batch,))]
        loss = torch.nn.functional.mse_loss(model(x), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return float(loss)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_one(0, 20, 64, 2000, 16)  # warm-up: allocator, kernels
    start = time.perf_counter()
    for m in range(args.models):
        train_one(1 + m, args.steps, 64, 2000, 16)
    seconds = time.perf_counter() - start
    print(f"torch_loop W1 models={args.models} steps={args.steps} threads={args.threads} "
          f"seconds={seconds:.3f} models_per_s={args.models / seconds:.4f} torch={torch.__version__}")


if __name__ == "__main__":
    main()
