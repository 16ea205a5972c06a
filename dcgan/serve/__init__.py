"""What only the hosted app needs, without drawing anything: the host's limits for anonymous visitors,
uploaded models (turned into model folders, expired, kept within a disk quota) and the one background
training job per server.

May import: every layer below the UI (base, data, nets, store, interop, quality, training, explore).
"""
