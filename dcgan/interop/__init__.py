"""Importing generators saved by other PyTorch DCGAN projects (.pth/.pt/.safetensors) as our model folders,
never silently wrong: reading their files safely, inferring their layers and strides, and a report with a
preview grid and health numbers (convert.py is the entry point).

May import: the base modules, dcgan.data, dcgan.nets and dcgan.store.
"""
