/* global uPlot, EventSource */
// breakwater dashboard page script: plain browser JavaScript, no build step. Live, it follows
// /breakwater/events; in a report, it reads the data embedded in the page. Guards are drawn from their
// snapshot shape ({ kind, name, state, status, configuration, metrics }): known kinds get a nicer card,
// any other kind still shows every figure.
;(function() {
  "use strict"

  // Points of the charts kept by the page: the server's timeline (about 270) plus an hour of live ones.
  var MAX_POINTS = 4000
  // The window the "failing now" headline reads: long enough to smooth, short enough to follow a phase.
  var NOW_MILLIS = 3000
  var REASONS = {
    dependencyError: "dependency error",
    timeout: "timeout",
    circuitOpen: "circuit open",
    poolExhausted: "pool exhausted",
    rateLimited: "rate limited",
    bulkheadFull: "bulkhead full",
    throttled: "throttled",
    adaptiveLimit: "adaptive limit"
  }
  var COLORS = ["#4c9aff", "#2fbf71", "#e5484d", "#f0b429", "#8e4ec6", "#f76b15", "#12a594", "#d6409f"]

  function el(tag, attrs) {
    var node = document.createElement(tag)
    if (attrs) {
      for (var key in attrs) {
        if (key === "text") node.textContent = attrs[key]
        else if (key === "className") node.className = attrs[key]
        // Through the CSSOM: the dashboard's Content-Security-Policy refuses `style` attributes.
        else if (key === "style") node.style.cssText = attrs[key]
        else node.setAttribute(key, attrs[key])
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i]
      if (child === null || child === undefined) continue
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child)
    }
    return node
  }

  function fmt(n, digits) {
    if (typeof n !== "number" || !isFinite(n)) return String(n)
    if (Math.abs(n) >= 1000 || Number.isInteger(n)) return Math.round(n).toLocaleString("en-US")
    return n.toFixed(digits === undefined ? 1 : digits)
  }

  function seconds(ms) {
    return ms < 60000
      ? (ms / 1000).toFixed(1) + " s"
      : Math.floor(ms / 60000) + " min " + Math.round((ms % 60000) / 1000) + " s"
  }

  function figure(label, value) {
    return el(
      "div",
      { className: "figure" },
      el("span", { text: label }),
      el("span", { className: "value", text: value })
    )
  }

  /** A bar of `value` out of `max`, with a mark at `threshold` (and red past it). */
  function bar(value, max, threshold) {
    var share = max > 0 ? Math.max(0, Math.min(1, value / max)) : 0
    var over = threshold !== undefined && value >= threshold
    var node = el(
      "div",
      { className: "bar" },
      el("div", { className: "fill" + (over ? " over" : ""), style: "width:" + (share * 100).toFixed(1) + "%" })
    )
    if (threshold !== undefined && max > 0) {
      node.appendChild(
        el("div", { className: "mark", style: "left:" + Math.min(100, (threshold / max) * 100).toFixed(1) + "%" })
      )
    }
    return node
  }

  function details(view) {
    var rows = []
    Object.keys(view.configuration).forEach(function(key) {
      rows.push(el("tr", null, el("td", { text: key }), el("td", { text: String(view.configuration[key]) })))
    })
    Object.keys(view.metrics).forEach(function(key) {
      rows.push(el("tr", null, el("td", { text: key }), el("td", { text: fmt(view.metrics[key], 2) })))
    })
    var table = el("table")
    rows.forEach(function(row) {
      table.appendChild(row)
    })
    return el("details", null, el("summary", { text: "configuration and figures" }), table)
  }

  function rate(label, value, threshold) {
    var known = value >= 0
    return [
      figure(label, (known ? fmt(value) + " %" : "—") + (threshold !== undefined ? " / " + fmt(threshold) + " %" : "")),
      bar(known ? value : 0, 100, threshold)
    ]
  }

  var renderers = {
    CircuitBreaker: function(v, c, m) {
      var parts = [el("div", { className: "state " + v.state, "data-state": v.state, text: v.state })]
      if (m.timeInStateMillis !== undefined) parts.push(figure("in state for", seconds(m.timeInStateMillis)))
      parts = parts.concat(rate("failure rate", m.failureRate, c.failureRateThreshold))
      parts = parts.concat(rate("slow-call rate", m.slowCallRate, c.slowCallRateThreshold))
      parts.push(figure("calls in window", fmt(m.numberOfBufferedCalls || 0)))
      parts.push(figure("refused (not permitted)", fmt(m.notPermittedCallsTotal || 0)))
      return parts
    },
    RateLimiter: function(v, c, m) {
      var limit = c.limitForPeriod || 0
      return [
        figure("permits available", fmt(m.availablePermissions) + (limit ? " / " + fmt(limit) : "")),
        bar(Math.max(0, m.availablePermissions), limit || 1),
        figure("waiting fibers", fmt(m.numberOfWaitingFibers || 0)),
        figure("refused", fmt(m.failedAcquiresTotal || 0))
      ]
    },
    Bulkhead: function(v, c, m) {
      var max = m.maxAllowedConcurrentCalls || 0
      var used = max - (m.availableConcurrentCalls || 0)
      return [
        figure("calls in flight", fmt(used) + " / " + fmt(max)),
        bar(used, max || 1, max || undefined),
        figure("refused (full)", fmt(m.rejectedCallsTotal || 0))
      ]
    },
    RetryBudget: function(v, c, m) {
      var scale = Math.max(m.availableRetries || 0, 1, (m.withdrawals || 0) + (m.availableRetries || 0))
      return [
        figure("retries left", fmt(m.availableRetries)),
        bar(m.availableRetries || 0, scale),
        figure("calls / retries (ttl)", fmt(m.deposits || 0) + " / " + fmt(m.withdrawals || 0)),
        figure("retries refused", fmt(m.refusals || 0))
      ]
    },
    Retry: function(v, c, m) {
      return [
        figure("ok without retry", fmt(m.numberOfSuccessfulCallsWithoutRetryAttempt || 0)),
        figure("ok after retries", fmt(m.numberOfSuccessfulCallsWithRetryAttempt || 0)),
        figure(
          "failed",
          fmt((m.numberOfFailedCallsWithoutRetryAttempt || 0) + (m.numberOfFailedCallsWithRetryAttempt || 0))
        ),
        figure("retries refused by budget", fmt(m.numberOfRetriesRefusedByBudget || 0))
      ]
    },
    TimeLimiter: function(v, c, m) {
      return [
        figure("limit", c.timeoutDuration !== undefined ? fmt(c.timeoutDuration) + " ms" : "—"),
        figure("timeouts", fmt(m.timeoutsTotal || 0)),
        figure("ok / failed", fmt(m.successfulCallsTotal || 0) + " / " + fmt(m.failedCallsTotal || 0))
      ]
    }
  }

  function latencyLine(latency) {
    return latency && latency.samples > 0
      ? fmt(latency.p50) + " / " + fmt(latency.p95) + " / " + fmt(latency.p99) + " ms"
      : "—"
  }

  function countsLine(counts) {
    var keys = Object.keys(counts || {}).sort()
    return keys.length === 0 ? "—" : keys.map(function(k) {
      return k + " " + fmt(counts[k])
    }).join(" · ")
  }

  function outboundCard(edge) {
    var node = el(
      "div",
      {
        className: "card " + edge.status,
        "data-kind": "HttpClientTarget",
        "data-name": edge.client + ":" + edge.target,
        "data-pressures": edge.pressures.join(" ")
      },
      el("div", { className: "kind", text: "HTTP out · " + edge.status }),
      el("div", { className: "name", text: edge.client + " → " + edge.target }),
      figure("latency p50 / p95 / p99", latencyLine(edge.latencyMillis)),
      figure("responses", countsLine(edge.responseClasses)),
      figure("codes", countsLine(edge.responses)),
      figure(
        "refused: circuit / rate / pool",
        fmt(edge.refusals.circuitOpen || 0) + " / " +
          fmt((edge.refusals.rateLimited || 0) + (edge.refusals.paused || 0)) + " / " +
          fmt(edge.refusals.poolExhausted || 0)
      )
    )
    if (edge.pool) {
      var size = edge.pool.busy + edge.pool.free
      node.appendChild(figure(
        "pool busy / free / queued / pending",
        fmt(edge.pool.busy) + " / " + fmt(edge.pool.free) + " / " + fmt(edge.pool.queued) + " / " +
          fmt(edge.pool.pending)
      ))
      node.appendChild(bar(edge.pool.busy, size || 1, size || undefined))
    }
    if (edge.pressures.length > 0) node.appendChild(figure("pressure", edge.pressures.join(", ")))
    return node
  }

  function inboundCard(edge) {
    return el(
      "div",
      { className: "card " + edge.status, "data-kind": "HttpServer", "data-name": edge.policy },
      el("div", { className: "kind", text: "HTTP in · " + edge.status }),
      el("div", { className: "name", text: edge.policy }),
      figure("latency p50 / p95 / p99", latencyLine(edge.latencyMillis)),
      figure("responses", countsLine(edge.responseClasses)),
      figure("refused (429 rate_limited, 503 shed)", countsLine(edge.refusals)),
      figure("live keys", fmt(edge.liveKeys)),
      figure("in flight", fmt(edge.inFlight))
    )
  }

  function generic(v, c, m) {
    var parts = []
    if (v.state !== undefined) {
      parts.push(el("div", { className: "state " + v.state, "data-state": v.state, text: v.state }))
    }
    Object.keys(m).slice(0, 6).forEach(function(key) {
      parts.push(figure(key, fmt(m[key], 2)))
    })
    return parts
  }

  function card(view) {
    var render = renderers[view.kind] || generic
    var node = el(
      "div",
      { className: "card " + view.status, "data-kind": view.kind, "data-name": view.name },
      el("div", { className: "kind", text: view.kind + " · " + view.status }),
      el("div", { className: "name", text: view.name })
    )
    render(view, view.configuration, view.metrics).forEach(function(part) {
      node.appendChild(part)
    })
    node.appendChild(details(view))
    return node
  }

  function breakdown(failures, title) {
    // The known reasons in their usual order, then any other; a reason is shown when it is counted at all.
    var keys = Object.keys(REASONS).filter(function(k) {
      return k in failures
    }).concat(
      Object.keys(failures).filter(function(k) {
        return !(k in REASONS)
      })
    )
    var total = keys.reduce(function(sum, k) {
      return sum + (failures[k] || 0)
    }, 0)
    var max = keys.reduce(function(m, k) {
      return Math.max(m, failures[k] || 0)
    }, 0)
    var node = el(
      "div",
      { className: "panel breakdown", "data-total": String(total) },
      el("h2", { text: title || "Why calls failed" })
    )
    keys.forEach(function(key) {
      var count = failures[key] || 0
      node.appendChild(el(
        "div",
        { className: "reason", "data-reason": key, "data-count": String(count) },
        el("span", { text: REASONS[key] || key }),
        el(
          "div",
          { className: "bar" },
          el("div", {
            className: "fill " + key,
            style: "width:" + (max > 0 ? (count / max) * 100 : 0).toFixed(1) + "%"
          })
        ),
        el("span", { className: "count", text: fmt(count) })
      ))
    })
    return node
  }

  /** Keys of `field` over all points, in first-seen order. */
  function keysOf(points, field) {
    var seen = {}
    var keys = []
    points.forEach(function(p) {
      Object.keys(p[field] || {}).forEach(function(k) {
        if (!seen[k]) {
          seen[k] = true
          keys.push(k)
        }
      })
    })
    return keys
  }

  /** Chart data from points: x in seconds (epoch), rates of counters, gauges as they are. */
  function chartsOf(points) {
    var out = { x: [], rate: {}, gauge: {}, failurePct: [] }
    var counters = ["failures", "traffic", "codesOut", "codesIn"]
    var gauges = ["latencyOut", "latencyIn", "pool", "permits", "breakers"]
    counters.forEach(function(field) {
      out.rate[field] = {}
      keysOf(points, field).forEach(function(k) {
        out.rate[field][k] = []
      })
    })
    gauges.forEach(function(field) {
      out.gauge[field] = {}
      keysOf(points, field).forEach(function(k) {
        out.gauge[field][k] = []
      })
    })
    for (var i = 1; i < points.length; i++) {
      var p = points[i]
      var prev = points[i - 1]
      var dt = (p.t - prev.t) / 1000
      // Rates over less than half a second are mostly noise.
      if (dt < 0.5) continue
      out.x.push(p.t / 1000)
      var failed = 0
      counters.forEach(function(field) {
        Object.keys(out.rate[field]).forEach(function(k) {
          // A counter that went back (a new run) counts from zero.
          var now = (p[field] || {})[k] || 0
          var before = (prev[field] || {})[k] || 0
          var delta = now >= before ? now - before : now
          if (field === "failures") failed += delta
          out.rate[field][k].push(delta / dt)
        })
      })
      var calls = p.calls >= prev.calls ? p.calls - prev.calls : p.calls
      out.failurePct.push(calls > 0 ? Math.min(100, (100 * failed) / calls) : null)
      gauges.forEach(function(field) {
        Object.keys(out.gauge[field]).forEach(function(k) {
          var v = (p[field] || {})[k]
          out.gauge[field][k].push(v === undefined ? null : v)
        })
      })
    }
    return out
  }

  /** The reason most calls failed for over the last `NOW_MILLIS`, with every reason's rate. */
  function failingNow(points) {
    if (points.length < 2) return null
    var last = points[points.length - 1]
    var first = null
    for (var i = points.length - 2; i >= 0; i--) {
      first = points[i]
      if (last.t - points[i].t >= NOW_MILLIS) break
    }
    var dt = (last.t - first.t) / 1000
    if (!(dt > 0)) return null
    var rates = Object.keys(last.failures).map(function(k) {
      var now = last.failures[k] || 0
      var before = first.failures[k] || 0
      return { reason: k, rate: (now >= before ? now - before : now) / dt }
    }).filter(function(r) {
      return r.rate > 0
    }).sort(function(a, b) {
      return b.rate - a.rate
    })
    return rates
  }

  function headline(points) {
    var rates = failingNow(points)
    var node = el("div", { className: "panel headline" })
    if (rates === null || rates.length === 0) {
      node.setAttribute("data-top-cause", "none")
      node.appendChild(el("span", { text: "Calls failing now: none" }))
      return node
    }
    var top = rates[0]
    node.setAttribute("data-top-cause", top.reason)
    node.appendChild(el("span", { text: "Calls failing now mostly because: " }))
    node.appendChild(el("strong", { className: "cause " + top.reason, text: REASONS[top.reason] || top.reason }))
    node.appendChild(el("span", {
      className: "rates",
      text: " (" + fmt(top.rate) + "/s" + rates.slice(1, 3).map(function(r) {
        return "; " + (REASONS[r.reason] || r.reason) + " " + fmt(r.rate) + "/s"
      }).join("") + ", last " + NOW_MILLIS / 1000 + " s)"
    }))
    return node
  }

  function seriesOf(group, suffix, labels) {
    var names = Object.keys(group)
    return {
      names: names.map(function(n) {
        return (labels && labels[n] ? labels[n] : n) + (suffix || "")
      }),
      data: names.map(function(n) {
        return group[n]
      })
    }
  }

  function concatSeries(x, parts) {
    var names = []
    var data = [x]
    parts.forEach(function(part) {
      names = names.concat(part.names)
      data = data.concat(part.data)
    })
    return { names: names, data: data }
  }

  function prefixed(group, prefix, suffix) {
    var out = {}
    Object.keys(group).forEach(function(k) {
      out[prefix + k + (suffix || "")] = group[k]
    })
    return out
  }

  // Newest first: the log scrolls, and the change that matters is usually the last one. Times are
  // clock times (the log covers what the timeline covers).
  function transitions(latest, points) {
    var origin = points.length > 0 ? points[0].t : 0
    return (latest.transitions || []).filter(function(t) {
      return t.at >= origin
    }).map(function(t) {
      return new Date(t.at).toISOString().slice(11, 19) + "  " + t.name + ": " + t.from + " → " + t.to
    }).reverse()
  }

  function chartOptions(title, names, yLabel, width, yMax, stepped) {
    return {
      title: title,
      width: width,
      height: 220,
      scales: {
        x: { time: true },
        y: yMax ? { range: [0, yMax] } : {
          range: function(u, min, max) {
            return [0, Math.max(1, max * 1.1)]
          }
        }
      },
      axes: [
        { stroke: "#8a9aab", grid: { stroke: "#263443" } },
        { stroke: "#8a9aab", grid: { stroke: "#263443" }, label: yLabel }
      ],
      series: [{ label: "t" }].concat(names.map(function(name, i) {
        var line = { label: name, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false }
        if (stepped) line.paths = uPlot.paths.stepped({ align: 1 })
        return line
      }))
    }
  }

  /** A chart that keeps its uPlot instance while its series stay the same. */
  function Chart(container, title, yLabel, yMax, stepped) {
    this.container = container
    this.title = title
    this.yLabel = yLabel
    this.yMax = yMax
    this.stepped = stepped
    this.names = null
    this.plot = null
  }
  Chart.prototype.update = function(names, data) {
    var width = Math.max(320, this.container.clientWidth - 8)
    if (this.plot === null || this.names.join("\u0000") !== names.join("\u0000")) {
      if (this.plot !== null) this.plot.destroy()
      this.container.textContent = ""
      this.names = names
      this.plot = new uPlot(
        chartOptions(this.title, names, this.yLabel, width, this.yMax, this.stepped),
        data,
        this.container
      )
    } else {
      this.plot.setData(data)
    }
  }

  var CHARTS = [
    ["load", "Load: offered vs delivered", "requests / s"],
    ["causes", "Why calls failed, over time", "calls / s"],
    ["latency", "Latency in and out (worst p50 / p95 / p99)", "ms"],
    ["codes", "Response codes, over time", "responses / s"],
    ["pool", "Connection pool use", "connections / requests"],
    ["permits", "Rate limiter permits available", "permits"],
    ["breakers", "Breaker state (0 closed, 1 half-open, 2 open)", "state", 2, true],
    ["failure", "Failed calls", "%", 100]
  ]

  function chartData(key, c) {
    switch (key) {
      case "load":
        return concatSeries(c.x, [seriesOf(c.rate.traffic, " /s")])
      case "causes":
        return concatSeries(c.x, [seriesOf(c.rate.failures, " /s", REASONS)])
      case "latency":
        return concatSeries(c.x, [
          seriesOf(prefixed(c.gauge.latencyOut, "out ")),
          seriesOf(prefixed(c.gauge.latencyIn, "in "))
        ])
      case "codes":
        return concatSeries(c.x, [
          seriesOf(prefixed(c.rate.codesOut, "out ")),
          seriesOf(prefixed(c.rate.codesIn, "in "))
        ])
      case "pool":
        return concatSeries(c.x, [seriesOf(c.gauge.pool)])
      case "permits":
        return concatSeries(c.x, [seriesOf(c.gauge.permits)])
      case "breakers":
        return concatSeries(c.x, [seriesOf(c.gauge.breakers)])
      default:
        return { names: ["failed calls %"], data: [c.x, c.failurePct] }
    }
  }

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
})()
