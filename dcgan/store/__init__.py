"""Model folders on disk and on the Hugging Face Hub: their files (model_files.py), loading and saving
checkpoints, Generator.from_pretrained/save_pretrained (pretrained.py), publishing to the Hub (hub.py), and
which models there are to pick (registry.py).

May import: the base modules, dcgan.data and dcgan.nets.
"""
