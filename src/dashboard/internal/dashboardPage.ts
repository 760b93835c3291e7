/**
 * The dashboard's HTML shell. Live, it links its assets and the page script reads
 * `/breakwater/events`; as a report, everything is inlined and the page script reads the embedded data.
 */

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

/** JSON safe inside a `<script>` element. */
const scriptJson = (data: unknown): string =>
  JSON.stringify(data).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029")

export interface Inlined {
  readonly styles: string
  readonly scripts: string
  readonly data: unknown
}

export const renderPage = (title: string, inlined?: Inlined): string => {
  const head = inlined === undefined
    ? `<link rel="stylesheet" href="/breakwater/assets/uPlot.css">
<link rel="stylesheet" href="/breakwater/assets/dashboard.css">`
    : `<style>\n${inlined.styles.replace(/<\/style/gi, "<\\/style")}\n</style>`
  const tail = inlined === undefined
    ? `<script src="/breakwater/assets/uPlot.js"></script>
<script src="/breakwater/assets/dashboard.js"></script>`
    : `<script id="breakwater-report" type="application/json">${scriptJson(inlined.data)}</script>
<script>\n${inlined.scripts.replace(/<\/script/gi, "<\\/script")}\n</script>`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
${head}
</head>
<body>
<header><h1 id="title">${
    escapeHtml(title)
  }</h1><span id="status" class="status">…</span><span id="connection"></span></header>
<main id="app"></main>
${tail}
</body>
</html>
`
}
