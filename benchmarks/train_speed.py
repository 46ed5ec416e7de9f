"""Training throughput: the project's trainer against a pytorch/examples-style loop, same run, same nets.

The baseline reads images through torchvision's dataset + DataLoader with ToTensor/Normalize (as
pytorch/examples dcgan/main.py does) and trains in NCHW; ours slices a preloaded uint8 tensor and
runs channels_last. Both do one D and one G update per batch with identical models and losses.

    python benchmarks/train_speed.py --data-root ../shared/datasets --sizes 28 64 --steps 30

Prints images/s for each and the ratio ours / baseline. Uses synthetic images when MNIST is absent.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dcgan.config import TrainConfig  # noqa: E402
from dcgan.data import BatchSource, load_dataset  # noqa: E402
from dcgan.models import Discriminator, Generator  # noqa: E402
from dcgan.train import train_step  # noqa: E402


def make_nets(cfg: TrainConfig, channels_last: bool):
    torch.manual_seed(0)
    G = Generator(cfg.z_dim, cfg.image_size, 1, cfg.g_width)
    D = Discriminator(cfg.image_size, 1, cfg.d_width)
    if channels_last:
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    return G, D, opt_g, opt_d


def baseline_loader(cfg: TrainConfig, data_root: str, have_mnist: bool):
    import torchvision.transforms as T
    from torchvision import datasets
    tf = T.Compose([T.Resize(cfg.image_size), T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    if have_mnist:
        ds = datasets.MNIST(data_root, train=True, download=False, transform=tf)
    else:
        ds = datasets.FakeData(4096, (1, 28, 28), transform=T.Compose([T.Grayscale(), tf]))
    # pytorch/examples uses workers; on 2 cores 1 worker leaves one core for the model
    return torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, num_workers=1,
                                       drop_last=True, persistent_workers=True)


def time_steps(next_batch, nets, cfg, steps: int, warmup: int = 3) -> float:
    G, D, opt_g, opt_d = nets
    z_gen = torch.Generator().manual_seed(0)
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        train_step(G, D, opt_g, opt_d, next_batch(i), z_gen, cfg)
    return steps * cfg.batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default="../shared/datasets")
    ap.add_argument("--sizes", type=int, nargs="+", default=[28, 64])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=2, help="alternate baseline/ours this many times")
    args = ap.parse_args()
    have_mnist = (Path(args.data_root) / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, data: {'MNIST' if have_mnist else 'synthetic'}")
    for size in args.sizes:
        cfg = TrainConfig(image_size=size, batch_size=args.batch_size)
        images = load_dataset("mnist" if have_mnist else "synthetic", size, 1, args.data_root).images
        source = BatchSource(images, cfg.batch_size, 0, torch.device("cpu"))
        loader = baseline_loader(cfg, args.data_root, have_mnist)
        it = iter(loader)

        def base_batch(i):
            nonlocal it
            try:
                return next(it)[0]
            except StopIteration:
                it = iter(loader)
                return next(it)[0]

        ours_batch = lambda i: source.batch(i).contiguous(memory_format=torch.channels_last)  # noqa: E731
        base, ours = [], []
        for _ in range(args.rounds):  # interleaved, so drift in machine load hits both alike
            base.append(time_steps(base_batch, make_nets(cfg, False), cfg, args.steps))
            ours.append(time_steps(ours_batch, make_nets(cfg, True), cfg, args.steps))
        b, o = max(base), max(ours)
        print(f"{size:>3d} px  baseline {b:7.1f} img/s   ours {o:7.1f} img/s   ratio {o / b:.2f}x   "
              f"(rounds: baseline {', '.join(f'{x:.0f}' for x in base)}; ours {', '.join(f'{x:.0f}' for x in ours)})")


if __name__ == "__main__":
    main()
