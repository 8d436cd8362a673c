"""The picture of a stack: its components and the dependencies between them, as SVG.

Edges come from the captured ``propertyDependencies`` (a resource of component A reads an output of
a resource in component B, so A depends on B). Layers come from the longest dependency path, so
everything a component needs sits to its left. Written by hand: no graphviz needed.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 230, 96, 70, 26, 30
SUMMARY = {
    "jobapptracker:network:Network": "VPC, public + private subnets, NAT, S3 endpoint, SGs",
    "jobapptracker:registry:Registry": "ECR: scan on push, immutable tags, lifecycle",
    "jobapptracker:secrets:Secrets": "KMS key, role credentials, JWT key, API keys",
    "jobapptracker:database:Database": "RDS PostgreSQL, TLS forced, managed master secret",
    "jobapptracker:storage:Storage": "uploads bucket, reads gated on the scan tag",
    "jobapptracker:scanning:Scanning": "GuardDuty Malware Protection plan + role",
    "jobapptracker:jobs:Jobs": "db-admin (invoked), scan-result, maintenance, slack-notify",
    "jobapptracker:service:AppRunnerService": "App Runner API, VPC connector, autoscaling",
    "jobapptracker:service:EcsService": "ECS Fargate API, internal ALB, CloudFront VPC origin",
    "jobapptracker:observability:Observability": "alarms to SNS: queues, 5xx, latency, RDS",
}


def _component_of(urn: str) -> str | None:
    chain = urn.split("::")[2].split("$")
    comps = [t for t in chain if t.startswith("jobapptracker:")]
    return comps[-1] if comps else None


def graph(resources: list[dict]) -> tuple[dict[str, dict], set[tuple[str, str]]]:
    """Components ({type: {name, count}}) and edges (dependent, dependency)."""
    comps: dict[str, dict] = {}
    for r in resources:
        if r["type"].startswith("jobapptracker:"):
            comps[r["type"]] = {"name": r["name"], "count": 0}
    by_urn = {r["urn"]: r for r in resources}
    for r in resources:
        c = _component_of(r["urn"])
        if c in comps and not r["type"].startswith("jobapptracker:"):
            comps[c]["count"] += 1
    edges: set[tuple[str, str]] = set()
    for r in resources:
        src = _component_of(r["urn"])
        for urns in (r.get("propertyDependencies") or {}).values():
            for u in urns:
                dst = _component_of(u) if u in by_urn else None
                if src and dst and src != dst and src in comps and dst in comps:
                    edges.add((src, dst))
    return comps, edges


def layers(comps: dict[str, dict], edges: set[tuple[str, str]]) -> dict[str, int]:
    depth: dict[str, int] = {}

    def visit(c: str, seen: frozenset) -> int:
        if c in depth:
            return depth[c]
        deps = [d for s, d in edges if s == c and d not in seen]
        depth[c] = 1 + max((visit(d, seen | {c}) for d in deps), default=-1)
        return depth[c]

    for c in comps:
        visit(c, frozenset())
    return depth


def render(resources: list[dict], stack: str) -> str:
    comps, edges = graph(resources)
    depth = layers(comps, edges)
    columns: dict[int, list[str]] = {}
    for c in sorted(comps, key=lambda c: (depth[c], comps[c]["name"])):
        columns.setdefault(depth[c], []).append(c)
    pos: dict[str, tuple[int, int]] = {}
    for col, members in columns.items():
        for row, c in enumerate(members):
            pos[c] = (MARGIN + col * (BOX_W + GAP_X), MARGIN + 40 + row * (BOX_H + GAP_Y))
    width = MARGIN * 2 + len(columns) * (BOX_W + GAP_X) - GAP_X
    height = MARGIN * 2 + 40 + max(len(m) for m in columns.values()) * (BOX_H + GAP_Y)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 10}" font-size="16" font-weight="bold">'
        f"jobapptracker, stack {escape(stack)}: components (arrows point at what a component "
        f"depends on)</text>",
    ]
    for src, dst in sorted(edges):
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        out.append(
            f'<line x1="{x1}" y1="{y1 + BOX_H / 2}" x2="{x2 + BOX_W}" y2="{y2 + BOX_H / 2}" '
            'stroke="#555" stroke-width="1.3" marker-end="url(#arrow)" opacity="0.75"/>'
        )
    for c, (x, y) in pos.items():
        kind = c.rsplit(":", 1)[-1]
        summary = SUMMARY.get(c, "")
        out += [
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="#eef4fb" '
            'stroke="#2f6db5" stroke-width="1.5"/>',
            f'<text x="{x + 10}" y="{y + 22}" font-size="14" font-weight="bold">'
            f"{escape(kind)}</text>",
            f'<text x="{x + 10}" y="{y + 40}" font-size="11" fill="#333">'
            f"{escape(comps[c]['name'])}: {comps[c]['count']} resources</text>",
        ]
        words, line, lines = summary.split(), "", []
        for w in words:
            if len(line) + len(w) + 1 > 36:
                lines.append(line)
                line = w
            else:
                line = f"{line} {w}".strip()
        lines.append(line)
        for i, text in enumerate(lines[:3]):
            out.append(
                f'<text x="{x + 10}" y="{y + 58 + i * 14}" font-size="11" fill="#555">'
                f"{escape(text)}</text>"
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write(resources: list[dict], stack: str, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"architecture-{stack}.svg"
    path.write_text(render(resources, stack), encoding="utf-8")
    return path
