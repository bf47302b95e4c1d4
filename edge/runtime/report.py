"""How a graph ran: ops in the model, ops taken by a delegate, and the number of delegate partitions."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field


@dataclass
class GraphReport:
    ops: int  # ops in the model
    delegated_ops: int  # ops inside a delegate partition
    partitions: int  # delegate partitions (DELEGATE nodes); 1 is best, 0 means nothing was delegated
    cpu_ops: dict[str, int] = field(default_factory=dict)  # op name -> count left on the reference kernels

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        left = ", ".join(f"{k} x{v}" for k, v in sorted(self.cpu_ops.items())) or "none"
        return (
            f"{self.ops} ops, {self.delegated_ops} delegated in {self.partitions} partition(s); "
            f"left on CPU kernels: {left}"
        )


def graph_report(interpreter) -> GraphReport:
    """Walk back from each DELEGATE node's outputs to its inputs: the nodes passed on the way were taken by it."""
    ops = interpreter._get_ops_details()  # LiteRT has no public op listing
    original = [op for op in ops if op["op_name"] != "DELEGATE"]
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    producer = {}
    for op in original:
        for t in op["outputs"]:
            producer[int(t)] = op["index"]
    by_index = {op["index"]: op for op in original}
    taken: set[int] = set()
    for d in delegates:
        boundary = {int(t) for t in d["inputs"]}
        stack = [int(t) for t in d["outputs"]]
        seen: set[int] = set()
        while stack:
            t = stack.pop()
            if t in seen or t in boundary or t not in producer:
                continue
            seen.add(t)
            node = producer[t]
            if node not in taken:
                taken.add(node)
                stack.extend(int(i) for i in by_index[node]["inputs"] if i >= 0)
    left = Counter(op["op_name"] for op in original if op["index"] not in taken)
    return GraphReport(ops=len(original), delegated_ops=len(taken), partitions=len(delegates), cpu_ops=dict(left))
