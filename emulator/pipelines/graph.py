"""The execution graph: a networkx DiGraph over every step, branch steps included (§1.3).

Edges come from DependsOn, from the steps referenced in a step's expressions (Get Steps.X...,
JsonGet PropertyFile), and from a Condition step to each step of its branches.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from emulator.aws.errors import ValidationException
from emulator.pipelines.definition import Definition, parse, references, step_expressions


@dataclass
class Plan:
    """A checked definition and its execution graph."""
    definition: Definition
    graph: nx.DiGraph


def plan(text: str) -> Plan:
    """Parse and check a definition and build its graph: every ValidationException a definition can
    raise (cycles included) is raised here."""
    definition = parse(text)
    return Plan(definition, build_graph(definition))


def build_graph(definition: Definition) -> nx.DiGraph:
    graph = nx.DiGraph()
    for name in definition.steps:
        graph.add_node(name)
    for step in definition.steps.values():
        for dep in step.depends_on:
            graph.add_edge(dep, step.name)
        used_steps, _, _ = references(step_expressions(step))
        for dep in used_steps:
            if dep != step.name:
                graph.add_edge(dep, step.name)
            else:
                raise ValidationException(f"Step {step.name} references its own properties.")
        if step.branch_of:
            graph.add_edge(step.branch_of, step.name)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return graph
    names = " -> ".join(edge[0] for edge in cycle) + f" -> {cycle[-1][1]}"
    raise ValidationException(f"Pipeline definition has a cycle between steps: {names}")


def pruned_by_condition(definition: Definition, graph: nx.DiGraph, condition: str, outcome: bool) -> set[str]:
    """Steps that can no longer run because `condition` took the other branch: the untaken branch's
    steps and everything downstream of them."""
    untaken = {s.name for s in definition.steps.values() if s.branch_of == condition and s.branch is not outcome}
    pruned = set(untaken)
    for name in untaken:
        pruned |= nx.descendants(graph, name)
    return pruned
