"""The site's performance page: the latest benchmark table and a log-log chart of how cost grows."""

from __future__ import annotations

import math
from html import escape

from ingest.store import atomic_write


def _chart(series: dict[str, list[tuple[int, float]]], width: int = 640, height: int = 320) -> str:
    """An inline SVG line chart, log scales on both axes (no script, no network)."""
    points = [p for pts in series.values() for p in pts]
    if not points:
        return ""
    xs = [math.log10(x) for x, _ in points]
    ys = [math.log10(max(y, 1e-4)) for _, y in points]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    left, right, top, bottom = 60, 20, 20, 40

    def px(x: float) -> float:
        return left + (math.log10(x) - x0) / max(x1 - x0, 1) * (width - left - right)

    def py(y: float) -> float:
        return height - bottom - (math.log10(max(y, 1e-4)) - y0) / max(y1 - y0, 1) * (height - top - bottom)

    colours = ["#00897b", "#e65100", "#3949ab", "#8e24aa"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="Time against rows, log-log" style="max-width:{width}px;width:100%">']
    for e in range(x0, x1 + 1):
        x = left + (e - x0) / max(x1 - x0, 1) * (width - left - right)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#ccc"/>'
                   f'<text x="{x:.1f}" y="{height - bottom + 16}" font-size="11" text-anchor="middle">'
                   f'{10 ** e:,}</text>')
    for e in range(y0, y1 + 1):
        y = height - bottom - (e - y0) / max(y1 - y0, 1) * (height - top - bottom)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ccc"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{10 ** e:g} s</text>')
    for i, (name, pts) in enumerate(series.items()):
        colour = colours[i % len(colours)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(pts))
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>' for x, y in pts]
        out.append(f'<text x="{left + 10}" y="{top + 14 + 16 * i}" font-size="12" fill="{colour}">'
                   f'{escape(name)}</text>')
    out.append(f'<text x="{(width + left) / 2:.0f}" y="{height - 6}" font-size="11" text-anchor="middle">'
               f'rows</text></svg>')
    return "".join(out)


def machine_line(machine: dict) -> str:
    memory = f", {machine['memory_gib']} GiB of memory" if machine.get("memory_gib") else ""
    speed = (f"; 10 million pure-Python additions took {machine['reference_loop_s']} s"
             if machine.get("reference_loop_s") else "")
    return (f"{machine.get('cpus', '?')} CPUs{memory}, Python {machine.get('python', '?')}, "
            f"{escape(machine.get('platform', '?'))}{speed}")


def performance_page(rows: list[dict], machine: dict, table_md: str) -> str:
    series = {
        "diff (synthetic release tables)": [(r["rows"], r["median_s"]) for r in rows
                                            if r["stage"].startswith("diff synthetic") and "rows" in r],
        "scrub (generated claim lines)": [(r["rows"], r["median_s"]) for r in rows
                                          if r["stage"].startswith("codegov scrub") and "rows" in r],
    }
    series = {k: v for k, v in series.items() if v}
    lines = [
        "# Performance", "",
        "Measured by `make bench` on the official files in `../shared/data/cms`: each stage runs in its own "
        "process, several times after a warm-up; the table gives the median and the spread, the peak resident "
        "memory of the process, and the ratio to a baseline measured in the same run.", "",
        f"Machine: {machine_line(machine)}.", "",
        table_md, "",
    ]
    if series:
        lines += ["## How cost grows", "",
                  "Both axes are logarithmic: a straight line of slope one is linear growth.", "",
                  _chart(series), ""]
    return "\n".join(lines)


def write_performance_page(path, rows: list[dict], machine: dict, table_md: str) -> bool:
    return atomic_write(path, performance_page(rows, machine, table_md).encode("utf-8"))


README_START, README_END = "<!-- bench:start", "<!-- bench:end -->"


def readme_with_table(readme: str, machine: dict, table_md: str) -> str:
    """The README with the block between the bench markers replaced by the latest run's table."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {README_START} ... {README_END} block for the benchmark table")
    head = readme[start:readme.index("\n", start) + 1]  # keep the marker line as written
    block = f"{head}The latest run ({machine_line(machine)}):\n\n{table_md}\n"
    return readme[:start] + block + readme[end:]


def write_readme_table(path, machine: dict, table_md: str) -> bool:
    text = path.read_text(encoding="utf-8")
    return atomic_write(path, readme_with_table(text, machine, table_md).encode("utf-8"))
