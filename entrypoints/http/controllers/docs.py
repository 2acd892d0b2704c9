"""``GET /docs/problems``: the page every problem ``type`` points at.

Generated from the one registry of codes (``entrypoints/http/errors.py`` ``PROBLEMS``),
so a code the handlers can answer with cannot be missing from it. One self-contained
HTML page: no script, no external stylesheet or font, so it reads offline.
"""

from functools import cache
from html import escape

from litestar import MediaType, Response, get

from entrypoints.http.errors import PROBLEMS, PROBLEMS_PAGE

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
    "table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ccc;padding:.5rem;"
    "text-align:left;vertical-align:top}code{background:#f3f3f3;padding:0 .2rem}tr:target{background:#fff6d5}"
)


@cache
def problems_page() -> bytes:
    rows = "\n".join(
        f'<tr id="{escape(code)}"><td><a href="#{escape(code)}"><code>{escape(code)}</code></a></td>'
        f"<td>{', '.join(map(str, kind.statuses))}</td><td>{escape(kind.title)}</td><td>{escape(kind.advice)}</td></tr>"
        for code, kind in sorted(PROBLEMS.items(), key=lambda item: (item[1].status, item[0]))
    )
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Problem codes</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body><h1>Problem codes</h1>
<p>Every error of the job API and the admin API is <code>application/problem+json</code> (RFC 9457):
<code>{{"type", "title", "status", "detail", "code"}}</code>, plus <code>errors</code> (the fields at fault)
on a schema violation. <code>code</code> is stable: branch on it, not on <code>detail</code>, which is
for people. <code>type</code> is this page's entry for the code (<code>{PROBLEMS_PAGE}#&lt;code&gt;</code>,
relative to the service's own address). On <code>/v1</code> the same codes and statuses come in
OpenAI's error envelope: <code>{{"error": {{"message", "type", "code", "param"}}}}</code>.</p>
<table><thead><tr><th>code</th><th>status</th><th>title</th><th>what to do</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""
    return html.encode()


@get(
    PROBLEMS_PAGE, tags=["docs"], summary="The problem codes the service answers with (HTML)", media_type=MediaType.HTML
)
async def problem_docs() -> Response[bytes]:
    return Response(content=problems_page(), media_type=MediaType.HTML)
