"""Layered drawing positions for a pipeline's step graph (a small Sugiyama layout).

Layers are networkx's topological generations, so every edge points to a later layer. An edge that
skips layers gets a virtual point in each layer it crosses, so it is routed around the steps in
between and takes part in ordering. A few barycentre sweeps (down, then up) order each layer by
the mean position of its neighbours in the previous one, which removes most crossings. Layers
run top to bottom, or left to right when the graph is wider than it is deep, so that a fan-out
of 50 steps reads as a column instead of a 10,000-pixel-wide row. Pure and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import networkx as nx

NODE_W, NODE_H = 200, 50          # a step's box
SLOT_GAP = 28                     # between neighbours in a layer
LAYER_GAP = 64                    # between layers
VIRTUAL_W = 24                    # room a routed edge takes in a layer it crosses
MARGIN = 16
SWEEPS = 4


@dataclass
class Layout:
    width: int
    height: int
    vertical: bool                                            # layers top to bottom
    boxes: dict[str, tuple[int, int]] = field(default_factory=dict)           # step -> top-left (x, y)
    edges: list[tuple[str, str, list[tuple[float, float]]]] = field(default_factory=list)  # u, v, points


@dataclass(frozen=True)
class _Virtual:
    edge: tuple[str, str]
    layer: int


def _layers(graph: nx.DiGraph) -> tuple[list[list], dict, list[tuple]]:
    """Layers with virtual nodes, each node's layer, and the chain of nodes of each real edge."""
    layer_of: dict = {}
    layers: list[list] = []
    for index, generation in enumerate(nx.topological_generations(graph)):
        layers.append(sorted(generation))
        for node in generation:
            layer_of[node] = index
    chains = []
    for u, v in sorted(graph.edges):
        chain = [u]
        for layer in range(layer_of[u] + 1, layer_of[v]):
            virtual = _Virtual((u, v), layer)
            layers[layer].append(virtual)
            layer_of[virtual] = layer
            chain.append(virtual)
        chains.append((u, v, chain + [v]))
    return layers, layer_of, chains


def _order(layers: list[list], chains: list[tuple]) -> None:
    """Barycentre sweeps, in place."""
    up: dict = {}
    down: dict = {}
    for _, _, chain in chains:
        for a, b in pairwise(chain):
            down.setdefault(a, []).append(b)
            up.setdefault(b, []).append(a)

    def sweep(sequence: list[list], neighbours: dict, reference_of) -> None:
        for index, layer in enumerate(sequence):
            reference = reference_of(index)
            if reference is None:
                continue
            position = {node: i for i, node in enumerate(reference)}
            current = {node: i for i, node in enumerate(layer)}
            layer.sort(key=lambda node, position=position, current=current: _barycentre(
                [position[n] for n in neighbours.get(node, ()) if n in position], current[node]))

    for _ in range(SWEEPS):
        sweep(layers, up, lambda i: layers[i - 1] if i > 0 else None)
        sweep(layers[::-1], down, lambda i: layers[len(layers) - i] if i > 0 else None)


def _barycentre(positions: list[int], fallback: int) -> float:
    """The mean position of a node's neighbours; a node without any keeps its place."""
    return sum(positions) / len(positions) if positions else fallback


def layout(graph: nx.DiGraph) -> Layout:
    if graph.number_of_nodes() == 0:
        return Layout(2 * MARGIN, 2 * MARGIN, True)
    layers, _, chains = _layers(graph)
    _order(layers, chains)
    real_width = max(sum(1 for n in layer if not isinstance(n, _Virtual)) for layer in layers)
    vertical = len(layers) >= real_width

    def extent(node) -> int:  # size along the layer
        if isinstance(node, _Virtual):
            return VIRTUAL_W
        return NODE_W if vertical else NODE_H

    depth = NODE_H if vertical else NODE_W  # size across layers
    spans = [sum(extent(n) for n in layer) + SLOT_GAP * (len(layer) - 1) for layer in layers]
    widest = max(spans)
    centre: dict = {}   # node -> (along, across) of its centre
    for index, (layer, span) in enumerate(zip(layers, spans)):
        along = MARGIN + (widest - span) / 2
        across = MARGIN + index * (depth + LAYER_GAP) + depth / 2
        for node in layer:
            centre[node] = (along + extent(node) / 2, across)
            along += extent(node) + SLOT_GAP

    def xy(along: float, across: float) -> tuple[float, float]:
        return (along, across) if vertical else (across, along)

    total_across = MARGIN * 2 + len(layers) * depth + (len(layers) - 1) * LAYER_GAP
    width, height = xy(widest + 2 * MARGIN, total_across)
    result = Layout(int(width), int(height), vertical)
    for layer in layers:
        for node in layer:
            if not isinstance(node, _Virtual):
                x, y = xy(*centre[node])
                result.boxes[node] = (int(x - NODE_W / 2), int(y - NODE_H / 2))
    half = depth / 2
    for u, v, chain in chains:
        points = [xy(centre[u][0], centre[u][1] + half)]
        points += [xy(*centre[n]) for n in chain[1:-1]]
        points.append(xy(centre[v][0], centre[v][1] - half))
        result.edges.append((u, v, points))
    return result
