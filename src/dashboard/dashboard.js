/* global EventSource, window */
// breakwater dashboard page script: plain browser JavaScript, no build step. Live, it follows
// /breakwater/events; in a report, it reads the data embedded in the page. Guards are drawn from their
// snapshot shape ({ kind, name, state, status, configuration, metrics }): known kinds get a nicer card,
// any other kind still shows every figure.
// Served as one script, after its two parts (dashboardCards.js, dashboardCharts.js), which hand
// their functions over on `window.breakwaterDashboard`.
;(function(ns) {
  "use strict"

  // Defined by an earlier part (see dashboard.js): the parts are served as one script, in order.
  var el = ns.el
  var outboundCard = ns.outboundCard
  var inboundCard = ns.inboundCard
  var card = ns.card
  var breakdown = ns.breakdown
  var chartsOf = ns.chartsOf
  var headline = ns.headline
  var transitions = ns.transitions
  var Chart = ns.Chart
  var CHARTS = ns.CHARTS
  var chartData = ns.chartData

  // Points of the charts kept by the page: the server's timeline (about 270) plus an hour of live ones.
  var MAX_POINTS = 4000

  function section(label, finished) {
    var headlineSlot = el("div")
    var chartNodes = {}
    var charts = {}
    var grid = el("div", { className: "row charts" })
    CHARTS.forEach(function(spec) {
      var node = el("div", { className: "panel chart", "data-chart": spec[0] })
      chartNodes[spec[0]] = node
      charts[spec[0]] = new Chart(node, spec[1], spec[2], spec[3], spec[4])
      grid.appendChild(node)
    })
    var breakdownSlot = el("div")
    var log = el(
      "div",
      { className: "panel" },
      el("h2", { text: "State changes, newest first" }),
      el("div", { className: "log", "data-order": "newest-first" })
    )
    var edges = el("div", { className: "cards edges" })
    var cards = el("div", { className: "cards" })
    var node = el(
      "section",
      { className: "run", "data-run": label },
      label ? el("h2", { text: label }) : null,
      headlineSlot,
      el("div", { className: "row" }, breakdownSlot, log),
      grid,
      el("h2", { text: "HTTP edges" }),
      edges,
      el("h2", { text: "Guards" }),
      cards
    )
    return {
      node: node,
      charts: charts,
      render: function(latest, points) {
        if (latest === undefined) return
        var c = chartsOf(points)
        CHARTS.forEach(function(spec) {
          var d = chartData(spec[0], c)
          charts[spec[0]].update(d.names, d.data)
        })
        headlineSlot.textContent = ""
        headlineSlot.appendChild(headline(points))
        breakdownSlot.textContent = ""
        breakdownSlot.appendChild(breakdown(latest.failures))
        var lines = transitions(latest, points)
        log.lastChild.textContent = lines.length === 0 ? (finished ? "none" : "none yet") : lines.join("\n")
        log.lastChild.style.whiteSpace = "pre"
        edges.textContent = ""
        var http = latest.http || { outbound: [], inbound: [] }
        http.outbound.forEach(function(edge) {
          edges.appendChild(outboundCard(edge))
        })
        http.inbound.forEach(function(edge) {
          edges.appendChild(inboundCard(edge))
        })
        if (http.outbound.length + http.inbound.length === 0) {
          edges.appendChild(el("p", { className: "notes", text: "none shown" }))
        }
        cards.textContent = ""
        latest.guards.forEach(function(view) {
          cards.appendChild(card(view))
        })
      }
    }
  }

  function setStatus(status) {
    var node = document.getElementById("status")
    node.className = "status " + status
    node.textContent = status
    node.setAttribute("data-status", status)
  }

  var app = document.getElementById("app")
  var embedded = document.getElementById("breakwater-report")

  if (embedded) {
    var report = JSON.parse(embedded.textContent)
    if (report.table.length > 0) {
      var table = el("table", { className: "results" })
      report.table.forEach(function(row, i) {
        var tr = el("tr")
        row.forEach(function(cell) {
          tr.appendChild(el(i === 0 ? "th" : "td", { text: cell }))
        })
        table.appendChild(tr)
      })
      app.appendChild(el("div", { className: "panel" }, el("h2", { text: "Results" }), table))
    }
    report.notes.forEach(function(note) {
      app.appendChild(el("p", { className: "notes", text: note }))
    })
    var final = "UP"
    report.recordings.forEach(function(recording) {
      var view = section(recording.label, true)
      app.appendChild(view.node)
      view.render(recording.documents[recording.documents.length - 1], recording.points || [])
      if (recording.documents.length > 0) final = recording.documents[recording.documents.length - 1].status
    })
    setStatus(final)
    document.getElementById("connection").textContent = "report"
    return
  }

  var live = section("", false)
  app.appendChild(live.node)
  var latest
  var points = []
  var connection = document.getElementById("connection")

  function addPoint(point) {
    if (!point || (points.length > 0 && point.t <= points[points.length - 1].t)) return
    points.push(point)
    if (points.length > MAX_POINTS) points.shift()
  }

  function receive(doc) {
    latest = doc
    addPoint(doc.point)
    document.getElementById("title").textContent = doc.title
    document.title = doc.title
    setStatus(doc.status)
    live.render(latest, points)
    connection.textContent = "live · " + new Date().toLocaleTimeString()
  }

  function follow() {
    var source = new EventSource("/breakwater/events")
    source.onmessage = function(message) {
      receive(JSON.parse(message.data))
    }
    source.onerror = function() {
      connection.textContent = "reconnecting…"
    }
  }

  // What happened before the page was opened: the server's long timeline, then the live documents.
  fetch("/breakwater/timeline", { credentials: "same-origin" }).then(function(response) {
    return response.ok ? response.json() : []
  }).then(function(past) {
    past.forEach(addPoint)
  }, function() {}).then(follow)

  window.addEventListener("resize", function() {
    Object.keys(live.charts).forEach(function(key) {
      live.charts[key].plot = null
    })
    live.render(latest, points)
  })
})(window.breakwaterDashboard = window.breakwaterDashboard || {})
