"""Weight payloads through Ray's object store: the tensors' bytes travel out of band.

Why: pickling torch tensors in band `torch.save`s each one into bytes, which `ray.put` copies
into shared memory and each reader copies out again (0.12-0.14 s per sync for the 18M benchmark
model, issue 14). Out-of-band buffers are written into the store once and mapped by readers.
"""

from __future__ import annotations

import pickle
import tempfile

import pytest
import torch

from actors.weight_sync import pack, unpack


def weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {
        "w": torch.randn(64, 32),
        "h": torch.randn(16, 8).to(torch.bfloat16),
        "s": torch.tensor(3.5),
        "e": torch.zeros(0),
        "t": torch.randn(8, 8).t(),
    }  # a scalar, an empty and a non-contiguous tensor


def test_payload_pickles_tensor_bytes_out_of_band_and_back_exactly():
    state = weights()
    buffers: list[pickle.PickleBuffer] = []
    inband = pickle.dumps(pack(state, 7), protocol=5, buffer_callback=buffers.append)
    assert sum(memoryview(b).nbytes for b in buffers) == sum(v.numel() * v.element_size() for v in state.values())
    assert len(inband) < 2048  # names, dtypes, shapes: no tensor data in band
    back = pickle.loads(inband, buffers=buffers)
    assert back.version == 7
    got = dict(unpack(back))
    assert got.keys() == state.keys()
    for name, tensor in state.items():
        assert got[name].dtype == tensor.dtype and got[name].shape == tensor.shape
        assert torch.equal(got[name], tensor), name


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, _temp_dir=tempfile.mkdtemp(prefix="rwp", dir="/tmp"))
    yield ray
    ray.shutdown()


def test_object_store_readers_map_the_weights_without_copying(local_ray):
    state = weights()
    ref = local_ray.put(pack(state, 3))
    first, second = (dict(unpack(local_ray.get(ref))) for _ in range(2))
    # two reads of one object are views of the same shared memory, not two copies
    assert first["w"].data_ptr() == second["w"].data_ptr()
    assert all(torch.equal(first[k], v) for k, v in state.items())
