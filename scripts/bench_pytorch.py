#!/usr/bin/env python3
"""PyTorch (CPU) side of `cargo xtask bench-compare`: the same workloads, shapes and thread
count as `examples/bench_models.rs`, written here from the architecture definitions (the
NAS-Bench-201 network from its cell string, dsm_nas from the block list that bench_models
writes with --spec, the proxies' cells from the same file) and, for the zero-cost proxies,
FreeREA's definitions (LogSynFlow in float64 on a BatchNorm-free copy, NASWOT by forward
hooks on the ReLUs). Prints one JSON object per workload."""

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]


def norm(c, bn=True):
    """BatchNorm, or nothing (SynFlow's networks bypass BatchNorm)."""
    return nn.BatchNorm2d(c) if bn else nn.Identity()


def relu_conv_bn(c_in, c_out, k, stride, bn=True):
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), norm(c_out, bn))


class Cell(nn.Module):
    def __init__(self, ops, c, bn=True):
        super().__init__()
        self.kinds = ops
        mods = []
        for op in ops:
            if op == "nor_conv_1x1":
                mods.append(relu_conv_bn(c, c, 1, 1, bn))
            elif op == "nor_conv_3x3":
                mods.append(relu_conv_bn(c, c, 3, 1, bn))
            elif op == "avg_pool_3x3":
                mods.append(nn.AvgPool2d(3, 1, 1, count_include_pad=False))
            else:
                mods.append(nn.Identity())
        self.ops = nn.ModuleList(mods)

    def forward(self, x):
        nodes = [x]
        for j in (1, 2, 3):
            acc = None
            for e, (i, d) in enumerate(EDGES):
                if d != j or self.kinds[e] == "none":
                    continue
                y = self.ops[e](nodes[i])
                acc = y if acc is None else acc + y
            nodes.append(acc if acc is not None else torch.zeros_like(x))
        return nodes[3]


class ResBlock(nn.Module):
    def __init__(self, c_in, c_out, bn=True):
        super().__init__()
        self.a = relu_conv_bn(c_in, c_out, 3, 2, bn)
        self.b = relu_conv_bn(c_out, c_out, 3, 1, bn)
        self.down = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.down(x) + self.b(self.a(x))


class Nb201(nn.Module):
    def __init__(self, cell, classes=10, c=16, n=5, bn=True):
        super().__init__()
        ops = [tok.split("~")[0] for node in cell.strip("|").split("|+|") for tok in node.split("|")]
        layers = [nn.Conv2d(3, c, 3, 1, 1, bias=False), norm(c, bn)]
        c_prev = c
        for stage, ch in enumerate([c, 2 * c, 4 * c]):
            if stage > 0:
                layers.append(ResBlock(c_prev, ch, bn))
            layers += [Cell(ops, ch, bn) for _ in range(n)]
            c_prev = ch
        layers += [norm(c_prev, bn), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_prev, classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def act(name):
    return nn.Hardswish() if name.lower() in ("hswish", "h_swish") else nn.ReLU()


class Block(nn.Module):
    def __init__(self, b):
        super().__init__()
        mid, a = b["mid_ch"], b["act"]
        layers = []
        if b["expand"] != 1:
            layers += [nn.Conv2d(b["in_ch"], mid, 1, bias=False), nn.BatchNorm2d(mid), act(a)]
        k = b["kernel"]
        layers += [nn.Conv2d(mid, mid, k, b["stride"], k // 2, groups=mid, bias=False), nn.BatchNorm2d(mid), act(a)]
        self.body = nn.Sequential(*layers)
        self.se = None
        if b.get("se_mid"):
            self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(mid, b["se_mid"], 1), nn.ReLU(),
                                    nn.Conv2d(b["se_mid"], mid, 1), nn.Hardsigmoid())
        self.point = nn.Sequential(nn.Conv2d(mid, b["out_ch"], 1, bias=False), nn.BatchNorm2d(b["out_ch"]))
        self.residual = b["residual"]

    def forward(self, x):
        h = self.body(x)
        if self.se is not None:
            h = h * self.se(h)
        h = self.point(h)
        return h + x if self.residual else h


class MbV3(nn.Module):
    def __init__(self, spec):
        super().__init__()
        stem, (expand, mix) = spec["stem"], spec["head"]
        blocks = spec["blocks"]
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.Hardswish())
        self.blocks = nn.Sequential(*[Block(b) for b in blocks])
        last = blocks[-1]["out_ch"]
        self.head = nn.Sequential(nn.Conv2d(last, expand, 1, bias=False), nn.BatchNorm2d(expand), nn.Hardswish(),
                                  nn.AdaptiveAvgPool2d(1), nn.Conv2d(expand, mix, 1, bias=False), nn.Hardswish(),
                                  nn.Flatten(), nn.Linear(mix, spec["classes"]))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def kaiming(net):
    """FreeREA's initialisation: Kaiming-normal (fan_out, ReLU gain), biases 0, BatchNorm 1 / 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return net


def logsynflow(cell, classes, dev):
    """FreeREA's LogSynFlow: sum |w * log(1 + |dR/dw|)| over conv and linear weights, R the sum
    of the logits of an all-ones input, parameters made positive, BatchNorm bypassed, float64."""
    net = kaiming(Nb201(cell, classes, bn=False)).double().to(dev)
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net(torch.ones(1, 3, 32, 32, dtype=torch.float64, device=dev)).sum().backward()
    total = 0.0
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.grad is not None:  # None: unused
            total += (m.weight * torch.log1p(m.weight.grad.abs())).abs().sum().item()
    return total


def naswot(cell, classes, x):
    """NASWOT: log |det K|, K = C C^T + (1 - C)(1 - C)^T over the binary codes of every ReLU's
    input for the batch (BatchNorm on batch statistics)."""
    net = kaiming(Nb201(cell, classes)).train().to(x.device)
    k = torch.zeros(x.shape[0], x.shape[0], dtype=torch.float64, device=x.device)

    def hook(_module, inp, _out):
        c = (inp[0].reshape(x.shape[0], -1) > 0).double()
        k.add_(c @ c.t() + (1.0 - c) @ (1.0 - c).t())

    for m in net.modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_hook(hook)
    with torch.no_grad():
        net(x)
    return torch.slogdet(k)[1].item()


def proxies(cell, x, inits):
    """LogSynFlow and NASWOT averaged over `inits` initialisations (each network built anew)."""
    ls = sum(logsynflow(cell, 10, x.device) for _ in range(inits)) / inits
    nw = sum(naswot(cell, 10, x) for _ in range(inits)) / inits
    return ls, nw


def timed(iters, f):
    for _ in range(3):
        f()
    t = time.perf_counter()
    for _ in range(iters):
        f()
    return (time.perf_counter() - t) / iters


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--spec", required=True)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--inits", type=int, default=3, help="initialisations of the proxies")
    p.add_argument("--cell", default="|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|")
    p.add_argument("--train-batches", default="64", help="batch sizes of the training step")
    p.add_argument("--batches", default="1,16", help="batch sizes of the dsm_nas inference")
    p.add_argument("--workloads", default="nb201_train_step,dsm_nas_infer,nb201_proxies",
                   help="also nb201_epoch: one epoch of 4,000 images at batch 64")
    a = p.parse_args()
    work = set(a.workloads.split(","))
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rows = []
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    net = Nb201(a.cell).train().to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    if "nb201_train_step" in work:
        for batch in map(int, a.train_batches.split(",")):
            x, y = torch.randn(batch, 3, 32, 32, device=dev), torch.arange(batch, device=dev) % 10
            s = timed(a.iters, lambda: (step(x, y), sync()))
            rows.append({"workload": "nb201_train_step", "batch": batch, "images_per_s": batch / s, "ms_per_iter": s * 1e3})
    if "nb201_epoch" in work:
        # One epoch of 4,000 images (the slice's training set) at batch 64, the images
        # already on the device (our side also loads and augments them: an upper bound).
        data, labels = torch.randn(4000, 3, 32, 32, device=dev), torch.arange(4000, device=dev) % 10

        def epoch():
            order = torch.randperm(4000, device=dev)
            for i in range(0, 4000, 64):
                idx = order[i:i + 64]
                step(data[idx], labels[idx])
            sync()

        epoch()
        t = time.perf_counter()
        epoch()
        s = time.perf_counter() - t
        rows.append({"workload": "nb201_epoch", "batch": 64, "images_per_s": 4000 / s, "ms_per_iter": s * 1e3})
    with open(a.spec) as f:
        spec = json.load(f)
    if "dsm_nas_infer" in work:
        model = MbV3(spec).eval().to(dev)
        for batch in map(int, a.batches.split(",")):
            xb = torch.randn(batch, 3, 224, 224, device=dev)
            with torch.inference_mode():
                s = timed(a.iters, lambda: (model(xb), sync()))
            rows.append({"workload": "dsm_nas_infer", "batch": batch, "images_per_s": batch / s, "ms_per_iter": s * 1e3})
    cells = spec.get("proxy_cells", [])
    if cells and "nb201_proxies" in work:
        # The proxies' batch: random images (their content does not change the work).
        x = torch.randn(64, 3, 32, 32, device=dev)
        proxies(cells[0], x, a.inits)
        sync()
        t = time.perf_counter()
        for cell in cells:
            proxies(cell, x, a.inits)
        sync()
        s = (time.perf_counter() - t) / len(cells)
        rows.append({"workload": "nb201_proxies", "batch": 64, "cells_per_s": 1 / s, "ms_per_iter": s * 1e3})
    for r in rows:
        r.update({"threads": a.threads, "backend": f"pytorch {torch.__version__} {a.device}", "iters": a.iters})
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
