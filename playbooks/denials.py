"""The denial report for people: the site's denial dashboard (index, top codes and pairs, E/M levels) and the
Markdown `codegov denials --format md` prints, from denials.summary's numbers.

Rendered from templates/denials*.j2 through the one Jinja environment of playbooks.text; the charts are
inline SVG (templates/bar_chart.svg.j2, autoescaped), each beside a table with the same numbers."""

from __future__ import annotations

import json

from ingest.systems import release_title
from playbooks.text import _tidy, environment

PAGE_DIR = "denials"
TOP = 10
LISTED = 500  # denied lines a page lists (the CSV and JSON have them all)


def _env():
    env = environment()
    env.filters["pct"] = pct
    env.filters["money"] = money
    env.filters["points"] = points
    return env


def pct(value) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def money(value) -> str:
    value = float(value or 0)
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def points(value) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f} pts"


def bar_chart(env, title: str, groups: list[dict], series: list[tuple[str, str]], fmt=str, width: int = 720) -> str:
    """A horizontal grouped bar chart: groups [{label, values: {series: number}}], series [(key, legend)]."""
    label_w, value_w, bar_h, gap, group_gap, top = 230, 80, 14, 2, 14, 30
    biggest = max([abs(g["values"].get(k) or 0) for g in groups for k, _ in series] + [0]) or 1
    scale = (width - label_w - value_w) / biggest
    y, laid = top, []
    for g in groups:
        bars = []
        for i, (key, legend) in enumerate(series):
            v = g["values"].get(key) or 0
            bars.append({"series": key, "legend": legend, "y": y + i * (bar_h + gap), "w": round(abs(v) * scale, 1),
                         "text": fmt(g["values"].get(key))})
        n = len(series)
        laid.append({"label": g["label"], "mid": y + (n * bar_h + (n - 1) * gap) / 2, "bars": bars})
        y += n * bar_h + (n - 1) * gap + group_gap
    svg = env.get_template("bar_chart.svg.j2").render(
        title=title, width=width, height=y + 4, x0=label_w, bar_h=bar_h, groups=laid,
        legend=[{"series": k, "legend": legend, "x": label_w + i * 130} for i, (k, legend) in enumerate(series)])
    return _tidy(svg).strip()


def _release_charts(env, summary: dict) -> list[dict]:
    out = []
    for rel in summary["releases"]:
        cats = [(b, a) for b, a in zip(rel["before"]["by_category"], rel["after"]["by_category"], strict=True)
                if b["denied_lines"] or a["denied_lines"]]
        title = release_title(rel["system"], rel["label"])
        chart = bar_chart(env, f"{title}: denial rate by category, 90 days before and after",
                          [{"label": b["label"], "values": {"before": b["rate"], "after": a["rate"]}} for b, a in cats],
                          [("before", "90 days before"), ("after", "90 days after")], fmt=pct) if cats else ""
        out.append({**rel, "title": title, "chart": chart, "rows": cats})
    return out


def _context(summary: dict, env, charts: bool) -> dict:
    cats = [c for c in summary["by_category"] if c["denied_lines"]]
    return {
        "s": summary, "top": TOP, "charts": charts, "listed": LISTED,
        "releases": _release_charts(env, summary) if charts else [
            {**r, "title": release_title(r["system"], r["label"]), "chart": "",
             "rows": [(b, a) for b, a in zip(r["before"]["by_category"], r["after"]["by_category"], strict=True)
                      if b["denied_lines"] or a["denied_lines"]]} for r in summary["releases"]],
        "categories": cats,
        "category_chart": bar_chart(env, "Denied amount by category", [
            {"label": c["label"], "values": {"amount": c["amount"]}} for c in cats], [("amount", "denied amount")],
            fmt=money) if charts and cats else "",
    }


def denials_markdown(summary: dict) -> str:
    """`codegov denials --format md`: the dashboard's numbers without the charts."""
    env = _env()
    return _tidy(env.get_template("denials.md.j2").render(**_context(summary, env, charts=False), pages=False))


def denial_pages(summary: dict) -> tuple[dict[str, str], list]:
    """The dashboard, the top tables and the E/M levels, as the extra pages render_site takes."""
    env = _env()
    ctx = _context(summary, env, charts=True)
    top_charts = {}
    for key, label in (("top_codes", "procedure_code"), ("top_modifiers", "modifier")):
        rows = summary[key][:TOP]
        top_charts[key] = bar_chart(env, f"Denied amount, top {len(rows)}", [
            {"label": f"{r['payer']} {r[label]}", "values": {"amount": r["amount"]}} for r in rows],
            [("amount", "denied amount")], fmt=money) if rows else ""
    em = []
    for block in summary["em_levels"]:
        chart = bar_chart(env, f"{block['family']} patient E/M levels, provider {block['provider']}", [
            {"label": lv["code"], "values": {"share": lv["share"], "benchmark": lv["benchmark"]}}
            for lv in block["levels"]], [("share", "this provider"), ("benchmark", "benchmark")], fmt=pct)
        em.append({**block, "chart": chart})
    pages = {
        f"{PAGE_DIR}/index.md": _tidy(env.get_template("denials.md.j2").render(**ctx, pages=True)),
        f"{PAGE_DIR}/top.md": _tidy(env.get_template("denials_top.md.j2").render(s=summary, top=TOP,
                                                                                charts=top_charts)),
        f"{PAGE_DIR}/em-levels.md": _tidy(env.get_template("denials_em.md.j2").render(s=summary, blocks=em)),
    }
    nav = [f"{PAGE_DIR}/index.md", {"Top denied codes and pairs": f"{PAGE_DIR}/top.md"},
           {"E/M levels": f"{PAGE_DIR}/em-levels.md"}]
    return pages, nav


def denials_json(summary: dict) -> str:
    return json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n"


def denials_csv(summary: dict) -> str:
    """One row per denied line (DENIED_LINE_COLUMNS); text cells made safe for a spreadsheet."""
    import csv
    import io

    from denials.summary import DENIED_LINE_COLUMNS
    from playbooks.text import csv_safe

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DENIED_LINE_COLUMNS)
    for r in summary["denied_lines"]:
        w.writerow([csv_safe(r[c]) if isinstance(r[c], str) else r[c] for c in DENIED_LINE_COLUMNS])
    return buf.getvalue()
