#!/usr/bin/env python3
"""How well-conditioned is a torchvision fixture? Rebuilds NAME exactly as
vision.py does (same seed, BatchNorm calibration and batch-1 input), runs it
in float32 and in float64, and prints how far the float32 output (the
fixture's output_1.npy) is from the float64 one, in units of the vision
test's tolerance 1e-4 + 1e-3*|want|. It writes the float64 output, rounded
to float32, to OUT.npy, to measure vkinfer against.

    python3 tools/torch/vision_fp64.py NAME FIXTURE_OUTPUT_1.npy OUT.npy
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vision  # noqa: E402


def tol(got, want):
    e = np.abs(got - want)
    return float((e / (1e-4 + 1e-3 * np.abs(want))).max()), float(e.max())


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    name, fixture, out = sys.argv[1:]
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    torch.manual_seed(vision.SEED)
    g = torch.Generator().manual_seed(vision.SEED)
    model = vision.build(name)
    vision.calibrate_batchnorm(model, g)
    x = torch.randn(1, 3, 224, 224, generator=g)
    with torch.no_grad():
        y32 = model(x).numpy()
        y64 = model.double()(x.double()).numpy()
    print("float32 torch vs the fixture: %.3g of the tolerance (max error %.3g)" % tol(y32, np.load(fixture)))
    print("float32 torch vs float64 torch: %.3g of the tolerance (max error %.3g)" % tol(y32, y64))
    print("largest |output|: %.4g" % np.abs(y64).max())
    np.save(out, y64.astype(np.float32))


if __name__ == "__main__":
    main()
