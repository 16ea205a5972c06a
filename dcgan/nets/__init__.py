"""What a network is: its config (config.json's two halves and their flags), the size limits a config must pass
before anything is built, what the app's work on a model costs (workload.py), the Generator and
Discriminator, BatchNorm statistics, and the latent space (noise, paths, directions).

May import: the base modules and dcgan.data (the config's flags name the registered datasets).
Reading and writing model folders is dcgan.store's (it attaches Generator.from_pretrained/save_pretrained).
"""
