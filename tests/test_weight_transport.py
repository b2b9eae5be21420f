"""The collective weight transport on its own: a real gloo group (sender and receivers in threads
of this process, each with its own endpoint), buckets, the in-band version, and failure paths
that must not leave the sender waiting. The same transport between Ray actors and real vLLM
engines is tested in tests/test_rollout_scale.py.
"""

from __future__ import annotations

import threading

import pytest
import torch

from actors.weight_sync import CollectiveTransport, load_into, plan_buckets
from rlsys.core.types import WeightPayload


def test_buckets_split_on_size_and_dtype():
    entries = [
        ("a", "float32", [4]),
        ("b", "float32", [4]),
        ("c", "float32", [2, 4]),
        ("d", "bfloat16", [4]),
        ("e", "bfloat16", [100]),
    ]
    # 16 + 16 bytes fit a 40-byte bucket, c (32 bytes) does not; d starts a bfloat16 bucket; e is over the limit alone
    assert plan_buckets(entries, 40) == [(0, 2), (2, 3), (3, 4), (4, 5)]
    assert plan_buckets(entries, 1 << 20) == [(0, 3), (3, 5)]
    assert plan_buckets([], 40) == []


def run_group(n_receivers, send, receive, bucket_bytes=64):
    """Rank 0 runs `send(endpoint)`, ranks 1..n run `receive(endpoint, rank)`; returns their results."""
    sender = CollectiveTransport(bucket_bytes=bucket_bytes, timeout_s=60)
    host, port = sender.listen(n_receivers + 1, host="127.0.0.1")
    results: dict[int, object] = {}

    def member(rank):
        try:
            endpoint = sender if rank == 0 else CollectiveTransport(bucket_bytes=bucket_bytes, timeout_s=60)
            endpoint.join(host, port, rank, n_receivers + 1)
            results[rank] = send(endpoint) if rank == 0 else receive(endpoint, rank)
        except Exception as exc:  # noqa: BLE001 - handed to the test thread
            results[rank] = exc

    threads = [threading.Thread(target=member, args=(r,)) for r in range(n_receivers + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a member of the weight group is still waiting"
    return results


STATE = {
    "model.embed_tokens.weight": torch.randn(10, 8),
    "model.layers.0.self_attn.q_proj.weight": torch.randn(8, 8),
    "model.layers.0.mlp.gate_proj.weight": torch.randn(16, 8).to(torch.bfloat16),
    "model.norm.weight": torch.randn(8),
}


def test_every_receiver_gets_every_tensor_with_its_name_dtype_and_shape():
    got = run_group(
        2,
        lambda ep: ep.pack(STATE, 7),
        lambda ep, r: [(n, t.clone()) for n, t in ep.unpack(WeightPayload(7, "collective", None))],
    )
    summary = got[0]
    assert summary.version == 7 and summary.data["tensors"] == 4 and summary.data["buckets"] >= 3  # 64-byte buckets
    for rank in (1, 2):
        pairs = got[rank]
        assert [n for n, _ in pairs] == list(STATE)
        for name, tensor in pairs:
            assert tensor.dtype == STATE[name].dtype and torch.equal(tensor, STATE[name])


def test_a_receiver_expecting_another_version_refuses_and_the_sender_finishes():
    def receive(ep, rank):
        expected = 3 if rank == 1 else 4
        return dict(ep.unpack(WeightPayload(expected, "collective", None)))

    got = run_group(2, lambda ep: ep.pack(STATE, 4), receive)
    assert isinstance(got[1], ValueError) and "version 4" in str(got[1]) and "expected 3" in str(got[1])
    assert got[0].version == 4 and set(got[2]) == set(STATE)


def test_a_loader_that_fails_midway_still_takes_the_whole_broadcast(monkeypatch):
    """An engine that refuses a tensor must still receive the rest, or rank 0 waits forever."""
    import actors.weight_sync as ws

    def failing_load(pairs):
        next(pairs)
        raise RuntimeError("engine refused a tensor")

    def receive(ep, rank):
        if rank == 2:
            return dict(ep.unpack(WeightPayload(1, "collective", None)))
        monkeypatch.setitem(ws.TRANSPORTS, "collective", ep)  # load_into looks the endpoint up by name
        return load_into(failing_load, WeightPayload(1, "collective", None))

    got = run_group(2, lambda ep: ep.pack(STATE, 1), receive)
    assert isinstance(got[1], RuntimeError) and got[0].version == 1 and set(got[2]) == set(STATE)


def test_only_rank_zero_sends_and_nothing_works_before_join():
    ep = CollectiveTransport()
    with pytest.raises(RuntimeError, match="rank 0"):
        ep.pack(STATE, 1)
    with pytest.raises(RuntimeError, match="before join"):
        next(ep.unpack(WeightPayload(1, "collective", None)))
    with pytest.raises(RuntimeError, match="listen"):
        ep.join("127.0.0.1", 1, 0, 2)


def test_the_transformers_backend_receives_over_the_collective_too(tiny_llama, monkeypatch):
    import actors.weight_sync as ws
    from actors.rollout import HFBackend
    from rlsys.core.config import RolloutConfig

    monkeypatch.setitem(ws.TRANSPORTS, "collective", CollectiveTransport(timeout_s=60))  # this process's endpoint
    backend = HFBackend(tiny_llama, RolloutConfig(backend="hf"), seed=0, dtype="float32", stop_ids=[1])
    new = {k: v + 0.5 for k, v in backend.model.state_dict().items()}
    sender = CollectiveTransport(bucket_bytes=1 << 16, timeout_s=60)
    host, port = sender.listen(2, host="127.0.0.1")
    results = {}

    def send():
        sender.join(host, port, 0, 2)
        results["sent"] = sender.pack(new, 3)

    thread = threading.Thread(target=send)
    thread.start()
    assert backend.join_weight_group(host, port, 1, 2) == [1]
    backend.load_weights(WeightPayload(3, "collective", None))
    thread.join(timeout=120)
    assert results["sent"].data["buckets"] > 1
    for name, value in backend.model.state_dict().items():
        assert torch.equal(value, new[name]), name
