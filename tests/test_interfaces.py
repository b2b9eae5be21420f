"""Every shipped implementation satisfies the protocol it is declared under (rlsys/core/interfaces.py).

`runtime_checkable` protocols check that the methods exist; the signatures are compared here too,
so a backend whose `generate` forgot an argument fails in this test rather than in a run.
"""

from __future__ import annotations

import inspect

import pytest

from actors.rollout import HFBackend, VLLMBackend
from actors.strategy import DeepSpeedStrategy, TorchStrategy
from actors.weight_sync import TRANSPORTS
from rlsys.cluster import InlineCluster, RayCluster
from rlsys.core import interfaces

IMPLEMENTATIONS = [
    (interfaces.Cluster, InlineCluster),
    (interfaces.Cluster, RayCluster),
    (interfaces.Strategy, TorchStrategy),
    (interfaces.Strategy, DeepSpeedStrategy),
    (interfaces.RolloutBackend, VLLMBackend),
    (interfaces.RolloutBackend, HFBackend),
]


def protocol_methods(protocol: type) -> list[str]:
    return [n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")]


@pytest.mark.parametrize(("protocol", "cls"), IMPLEMENTATIONS, ids=lambda x: getattr(x, "__name__", str(x)))
def test_class_has_every_method_with_the_same_parameters(protocol, cls):
    for name in protocol_methods(protocol):
        assert hasattr(cls, name), f"{cls.__name__} lacks {protocol.__name__}.{name}"
        want = list(inspect.signature(getattr(protocol, name)).parameters)
        got = list(inspect.signature(getattr(cls, name)).parameters)
        assert got[: len(want)] == want, f"{cls.__name__}.{name}{got} does not match {protocol.__name__}.{name}{want}"
    for prop in ("module",):
        if isinstance(vars(protocol).get(prop), property):
            assert isinstance(inspect.getattr_static(cls, prop), property), f"{cls.__name__}.{prop} is not a property"


@pytest.mark.parametrize("name", sorted(TRANSPORTS))
def test_every_weight_transport_is_a_sender_and_a_receiver(name):
    transport = TRANSPORTS[name]
    assert isinstance(transport, interfaces.WeightSender)
    assert isinstance(transport, interfaces.WeightReceiver)
    assert transport.name == name


def test_a_class_missing_a_verb_is_caught():
    class Half:
        def generate(self, prompt_ids, n):
            return []

    assert not isinstance(Half(), interfaces.RolloutBackend)
    assert "load_weights" in protocol_methods(interfaces.RolloutBackend)


@pytest.mark.parametrize("cls", [InlineCluster, RayCluster], ids=lambda c: c.__name__)
def test_cluster_generation_is_a_future(cls):
    """The asynchronous loop submits generation and trains while it runs: the verb returns a Future."""
    hints = inspect.signature(cls.submit_generate).return_annotation
    assert hints in ("Future", __import__("concurrent.futures").futures.Future)
    assert "restarts" in interfaces.Cluster.__annotations__ and "generate_clock" in interfaces.Cluster.__annotations__
