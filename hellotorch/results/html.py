"""One self-contained HTML page: sections with a table of contents, sortable tables, plots inlined as SVG.

Every ``--html`` page (run report, compare, history, A/B, gate) is built
with :class:`Page`. A page opens from disk or a CI artifact with nothing
else: the styles and the small table-sorting script are inline, the plots
are the project's own matplotlib figures as inline SVG (text kept as text,
which keeps them small and searchable), and a Content-Security-Policy
forbids any request at all, so a page that tried one would say so in the
browser's console rather than reach out.
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hellotorch.files import write_text_atomic  # noqa: E402

#: nothing from the network, ever: inline styles and script, images only as data or inline SVG.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1f24;background:#fff}
header{background:#24292f;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#d0d7de}
nav{position:sticky;top:0;background:#f6f8fa;border-bottom:1px solid #d0d7de;padding:6px 24px;z-index:1}
nav a{margin-right:14px;color:#0969da;text-decoration:none}main{padding:8px 24px 40px;max-width:1400px}
h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:32px}h3{margin-top:20px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #d0d7de;padding:3px 8px}
th{background:#f6f8fa;text-align:left}td{text-align:right}td:first-child{text-align:left}
table.sortable th{cursor:pointer}table.sortable th:after{content:" \\2195";color:#8c959f}
.verdict{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:10px}
.box{border:1px solid #d0d7de;border-radius:6px;padding:8px 12px}.box h3{margin:0 0 6px;font-size:15px}
.good{border-left:5px solid #1a7f37}.bad{border-left:5px solid #cf222e}.warn{border-left:5px solid #bf8700}
.plain{border-left:5px solid #8c959f}ul{margin:4px 0;padding-left:18px}
details{border:1px solid #d0d7de;border-radius:6px;margin:6px 0;padding:4px 10px}
summary{cursor:pointer;font-weight:600}svg{max-width:100%;height:auto}pre{background:#f6f8fa;padding:8px;overflow:auto}
.muted{color:#57606a}
"""

#: click a header to sort its table by that column (numbers as numbers); no library, no network.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], index = th.cellIndex;
    var up = th.dataset.order !== "up"; th.dataset.order = up ? "up" : "down";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].textContent.trim(), y = b.cells[index].textContent.trim();
      var nx = parseFloat(x), ny = parseFloat(y);
      var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return up ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def anchor(text: str) -> str:
    """An id usable in a link: the case id with anything but letters, digits, dot and dash made a dash."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-")


def figure_svg(fig: Figure) -> str:
    """The figure as inline SVG, closed afterwards (text as text: smaller, and searchable in the page)."""
    buffer = io.StringIO()
    try:
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "hellotorch"}):
            fig.savefig(buffer, format="svg", bbox_inches="tight")
    finally:
        plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # the XML prolog and DOCTYPE have no place inside HTML


def table_html(frame: pd.DataFrame, *, sortable: bool = True, digits: int = 3) -> str:
    """``frame`` as an HTML table, cells escaped, empty where a value is missing."""
    return frame.to_html(
        index=False,
        escape=True,
        na_rep="",
        border=0,
        classes="sortable" if sortable else None,
        float_format=lambda value: f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.0f}",
    )


def escape(text: object) -> str:
    return html.escape(str(text))


def link(target: str, text: str) -> str:
    return f'<a href="#{escape(target)}">{escape(text)}</a>'


def bullet_list(items: list[str]) -> str:
    """Items already in HTML."""
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>" if items else ""


@dataclass
class Page:
    """A page of sections; :meth:`render` gives the whole HTML, :meth:`write` writes it atomically."""

    title: str
    subtitle: str = ""
    sections: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, section_id: str, heading: str, body: str) -> None:
        self.sections.append((section_id, heading, body))

    def render(self) -> str:
        nav = "".join(link(section_id, heading) for section_id, heading, _ in self.sections)
        body = "".join(
            f'<section id="{escape(section_id)}"><h2>{escape(heading)}</h2>{content}</section>'
            for section_id, heading, content in self.sections
        )
        return (
            "<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(self.title)}</title><style>{STYLE}</style></head>"
            f"<body><header><h1>{escape(self.title)}</h1><p>{escape(self.subtitle)}</p></header>"
            f"<nav>{nav}</nav><main>{body}</main><script>{SORT_SCRIPT}</script></body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        return write_text_atomic(Path(path), self.render())
