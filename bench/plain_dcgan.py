"""The baseline: a DCGAN trained the way pytorch/examples' dcgan/main.py does it.

Written out plainly on purpose (it is what our trainer is compared against): eager NCHW fp32,
Sigmoid + BCELoss, a map-style Dataset decoding one PIL image per item behind a DataLoader
(shuffle, 2 workers, as the example's --workers default), zero_grad/backward/step per network,
batch 64, Adam(2e-4, beta1 0.5), N(0, 0.02) init. The only change: the number of layers follows
the image size (32 px drops the example's first 4->8 block), so 32x32 and 64x64 both work.

    python bench/plain_dcgan.py --steps 936 --image-size 32 --out runs/plain-fmnist32

writes netG.pth (a plain state dict, as the example saves it) and imports it as one of our
model folders (`python -m dcgan import`), so `python -m dcgan eval` measures it like ours.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class PlainGenerator(nn.Module):
    """pytorch/examples' netG: ConvTranspose2d + BatchNorm + ReLU blocks, Tanh at the end."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 1, image_size: int = 64):
        super().__init__()
        blocks = int(np.log2(image_size)) - 3  # 64 px: 3 stride-2 blocks after the 4x4 stem
        width = ngf * 2**blocks
        layers = [nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(blocks):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2)]
            layers += [nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


class PlainDiscriminator(nn.Module):
    """pytorch/examples' netD: strided convs, LeakyReLU(0.2), BatchNorm after the first, Sigmoid."""

    def __init__(self, ndf: int = 64, nc: int = 1, image_size: int = 64):
        super().__init__()
        blocks = int(np.log2(image_size)) - 3
        layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        width = ndf
        for _ in range(blocks):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2)]
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1, 1).squeeze(1)


def weights_init(m: nn.Module) -> None:
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class ImageArrayDataset(torch.utils.data.Dataset):
    """What torchvision's datasets + transforms do per item: PIL image -> Resize -> ToTensor -> Normalize."""

    def __init__(self, pixels: np.ndarray, image_size: int, nc: int):
        self.pixels, self.image_size, self.nc = pixels, image_size, nc  # (N, H, W) or (N, H, W, 3) uint8

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = Image.fromarray(self.pixels[index]).convert("L" if self.nc == 1 else "RGB")
        image = image.resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
        tensor = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)
        tensor = tensor[None] if self.nc == 1 else tensor.permute(2, 0, 1)
        return (tensor - 0.5) / 0.5, 0


def fashion_mnist_pixels() -> np.ndarray:
    from dcgan.data.idx import find_idx_dataset, read_idx

    folder = find_idx_dataset("fashion-mnist")
    return read_idx(next(folder.glob("train-images-idx3-ubyte*")))


def emoji_pixels(image_size: int) -> np.ndarray:
    from dcgan.data.loading import load_dataset

    images = load_dataset("emoji", image_size, channels=3).images  # [-1, 1], (N, 3, S, S)
    return ((images + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def make_loader(pixels: np.ndarray, image_size: int, nc: int, batch_size: int, workers: int, seed: int):
    dataset = ImageArrayDataset(pixels, image_size, nc)
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True, generator=generator
    )


def plain_steps(
    pixels: np.ndarray,
    image_size: int = 64,
    nc: int = 1,
    batch_size: int = 64,
    workers: int = 2,
    nz: int = 100,
    ngf: int = 64,
    ndf: int = 64,
    seed: int = 0,
):
    """The example's loop, endless: yields (step, netG, netD, losses) after each D+G update."""
    torch.manual_seed(seed)
    netG, netD = PlainGenerator(nz, ngf, nc, image_size), PlainDiscriminator(ndf, nc, image_size)
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real_label, fake_label = 1.0, 0.0
    step = 0
    while True:
        for data in make_loader(pixels, image_size, nc, batch_size, workers, seed + step):
            # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            real = data[0]
            b_size = real.size(0)
            label = torch.full((b_size,), real_label, dtype=real.dtype)
            output = netD(real)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()
            noise = torch.randn(b_size, nz, 1, 1)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach())
            errD_fake = criterion(output, label)
            errD_fake.backward()
            errD = errD_real + errD_fake
            optimizerD.step()
            # (2) Update G: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(real_label)
            output = netD(fake)
            errG = criterion(output, label)
            errG.backward()
            optimizerG.step()
            step += 1
            yield step, netG, netD, {"loss_d": errD.item(), "loss_g": errG.item(), "d_real": D_x}


def train_plain(pixels: np.ndarray, steps: int, log_every: int = 50, verbose: bool = True, **loop_options):
    """`steps` D+G updates of the example's loop (options: those of plain_steps).
    Returns (netG, netD, seconds, log lines)."""
    started, log = time.perf_counter(), []
    loop = plain_steps(pixels, **loop_options)
    for step, netG, netD, losses in loop:  # noqa: B007 (the nets are returned after the loop)
        if step % log_every == 0 or step == steps:
            line = {"step": step} | losses | {"seconds": round(time.perf_counter() - started, 3)}
            log.append(line)
            if verbose:
                print(json.dumps(line), flush=True)
        if step >= steps:
            break
    loop.close()
    return netG, netD, time.perf_counter() - started, log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the pytorch/examples-style baseline DCGAN.")
    parser.add_argument("--data", choices=["fashion-mnist", "emoji"], default="fashion-mnist")
    parser.add_argument("--steps", type=int, required=True, help="D+G updates")
    parser.add_argument("--image-size", type=int, default=32, choices=[32, 64])
    parser.add_argument("--batch-size", type=int, default=64, help="the example's default: 64")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (the example's default: 2)")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder for netG.pth, the log and the model folder")
    args = parser.parse_args(argv)

    from dcgan.interop.convert import import_generator

    nc = 1 if args.data == "fashion-mnist" else 3
    pixels = fashion_mnist_pixels() if args.data == "fashion-mnist" else emoji_pixels(args.image_size)
    sizes = {"image_size": args.image_size, "nc": nc, "batch_size": args.batch_size, "ngf": args.ngf, "ndf": args.ndf}
    netG, _, seconds, log = train_plain(pixels, args.steps, workers=args.workers, seed=args.seed, **sizes)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(netG.state_dict(), args.out / "netG.pth")
    summary = {"steps": args.steps, "batch_size": args.batch_size, "seconds": round(seconds, 1), "log": log}
    summary["command"] = "python bench/plain_dcgan.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (args.out / "train_log.json").write_text(json.dumps(summary, indent=2) + "\n")
    model = import_generator(args.out / "netG.pth", args.out / "model", image_size=args.image_size)
    print(f"{args.steps} steps in {seconds:.0f} s; model folder: {model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
