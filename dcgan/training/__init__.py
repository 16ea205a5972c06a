"""Training: the Trainer (one GAN step, the loop, exact resume), its state file, what a run writes, DDP under
torchrun, DiffAugment, chunked training for ZeroGPU, the speed estimate, and publishing a run as a shipped
model with its card (cards.py).

May import: everything below it (base, data, nets, store, interop, quality); nothing that draws a UI.
"""
