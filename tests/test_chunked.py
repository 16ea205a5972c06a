"""Training in chunks (for ZeroGPU Spaces): the same run as one long call, and spaces.GPU wiring."""

import sys
import types

import torch
from test_jobs import TINY, blobs

from dcgan.nets.config import TrainConfig
from dcgan.store.model_files import load_tensors
from dcgan.training import chunked
from dcgan.training.trainer import Trainer


def handle(run_dir, steps=12):
    train = TrainConfig(data="blobs", steps=steps, batch_size=16, sample_every=4, checkpoint_every=100, n_fixed=16)
    return Trainer(TINY, train, run_dir, dataset=blobs())


def test_chunked_training_ends_with_the_weights_of_one_long_run(tmp_path):
    events = list(handle(tmp_path / "whole").run())
    calls = []

    def chunk(*args):
        calls.append(args[-1])  # until_step
        return chunked.train_chunk(*args)

    # 5 steps, then (chunk_seconds=0) one step per chunk: the run crosses 7 resumes
    chunks = chunked.chunked_events(handle(tmp_path / "chunks"), chunk=chunk, chunk_seconds=0, first_chunk_steps=5)
    chunked_run = list(chunks)
    assert calls == [5, 6, 7, 8, 9, 10, 11, 12]
    whole = load_tensors(tmp_path / "whole" / "model.safetensors")
    parts = load_tensors(tmp_path / "chunks" / "model.safetensors")
    assert all(torch.equal(whole[name], parts[name]) for name in whole)
    kinds = [event.kind for event in chunked_run]
    assert kinds.count("step") == 12 and kinds[-1] == "done" and "stopped" not in kinds
    assert [e.step for e in chunked_run if e.kind == "sample"] == [e.step for e in events if e.kind == "sample"]


def test_a_stop_between_chunks_ends_the_job_with_a_checkpoint(tmp_path):
    trainer = handle(tmp_path / "run", steps=1000)

    def chunk(*args):
        trainer.stop()  # the visitor presses stop while the first chunk trains
        return chunked.train_chunk(*args[:-1], 5)

    events = list(chunked.chunked_events(trainer, chunk=chunk))
    assert events[-1].kind == "stopped" and trainer.step == 5
    assert Trainer.from_run(tmp_path / "run", dataset=blobs()).step == 5


def test_on_zerogpu_the_chunk_goes_through_spaces_gpu(monkeypatch):
    decorated = []

    def gpu(duration):
        def wrap(fn):
            decorated.append((fn, duration))
            return fn

        return wrap

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=gpu))
    assert chunked.gpu_train_chunk() is chunked.train_chunk and decorated == []  # not on ZeroGPU: plain call
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    chunked.gpu_train_chunk()
    assert decorated == [(chunked.train_chunk, chunked.GPU_DURATION)]
    assert chunked.CHUNK_SECONDS < chunked.GPU_DURATION
