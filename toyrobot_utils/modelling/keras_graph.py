"""Reading a Keras model's graph: its functional form, where it calls a layer, which layer made a tensor.

Grad-CAM routes gradients through a model's own graph (also through a nested pre-trained base), and transfer
learning checks that a model is one chain input -> base -> head. Keras 3 has no public API for either, so this module
is the only place that reads Keras' private graph attributes: one small function each, with what it relies on and
what breaks without it. ``tests/test_library_internals.py`` checks every one of them against the installed Keras and
names its version when one is gone, so an upgrade fails there first, with a clear message.
"""

from __future__ import annotations

import keras


def functional_graph(model: keras.Model) -> keras.Model:
    """The functional graph of ``model``: itself, or the one a built Sequential keeps.

    Relies on Keras 3's ``Sequential._functional`` (a ``Functional`` rebuilt whenever the Sequential is built). Without
    it a Sequential has no ``inputs``/``outputs`` tensors to route through, and Grad-CAM of the write-up's networks
    (all Sequential) fails."""
    functional = getattr(model, "_functional", None)
    return functional if functional is not None else model


def call_node(layer, model: keras.Model):
    """The node where ``model``'s graph calls ``layer``.

    ``layer.output`` is not good enough: it is the layer's *first* call, and a Sequential loaded from a .keras file
    calls each layer once per rebuild (and a pre-trained base may be called from several models). Relies on Keras 3's
    ``layer._inbound_nodes`` (the layer's calls, in order) and on a graph keying its nodes as
    ``"<id(operation)>_ib-<index in the operation's inbound nodes>"`` in ``Functional._nodes``. If either changes, no
    node is found and this raises ValueError: Grad-CAM and ``transfer.split_transfer_model`` stop working."""
    keys = set(getattr(functional_graph(model), "_nodes", ()))
    inbound = layer._inbound_nodes
    for index in reversed(range(len(inbound))):
        if f"{id(layer)}_ib-{index}" in keys:
            return inbound[index]
    raise ValueError(f"Layer {layer.name!r} is not called inside model {model.name!r}")


def producing_layer(tensor):
    """The layer (operation) whose call produced ``tensor``, a symbolic tensor of a functional graph.

    Relies on Keras 3's ``KerasTensor._keras_history`` (operation, node index, tensor index). Without it Grad-CAM
    cannot find the softmax that ends a network, so it cannot score the class by its logit."""
    return tensor._keras_history.operation


__all__ = ["call_node", "functional_graph", "producing_layer"]
