/* global uPlot, EventSource */
// breakwater dashboard page script: plain browser JavaScript, no build step. Live, it follows
// /breakwater/events; in a report, it reads the data embedded in the page. Guards are drawn from their
// snapshot shape ({ kind, name, state, status, configuration, metrics }): known kinds get a nicer card,
// any other kind still shows every figure.
;(function() {
  "use strict"

  var HISTORY = 600
  var REASONS = {
    dependencyError: "dependency error",
    timeout: "timeout",
    circuitOpen: "circuit open",
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

  /** Per-second rates and shares from consecutive documents (counters are cumulative). */
  function series(documents) {
    var out = { x: [], traffic: {}, failurePct: [], breakers: {}, thresholds: {} }
    if (documents.length === 0) return out
    var origin = documents[0].at
    var trafficKeys = Object.keys(documents[documents.length - 1].traffic)
    trafficKeys.forEach(function(k) {
      out.traffic[k] = []
    })
    documents.forEach(function(doc) {
      doc.guards.forEach(function(g) {
        if (g.kind === "CircuitBreaker") {
          out.breakers[g.name] = out.breakers[g.name] || []
          if (typeof g.configuration.failureRateThreshold === "number") {
            out.thresholds[g.name] = g.configuration.failureRateThreshold
          }
        }
      })
    })
    var prev = documents[0]
    for (var i = 1; i < documents.length; i++) {
      var doc = documents[i]
      var dt = (doc.at - prev.at) / 1000
      // Rates over less than half a second (a live document right after the history) are mostly noise.
      if (dt < 0.5) continue
      out.x.push((doc.at - origin) / 1000)
      trafficKeys.forEach(function(k) {
        out.traffic[k].push(Math.max(0, ((doc.traffic[k] || 0) - (prev.traffic[k] || 0)) / dt))
      })
      var calls = doc.calls - prev.calls
      var failed = 0
      Object.keys(doc.failures).forEach(function(k) {
        failed += Math.max(0, (doc.failures[k] || 0) - (prev.failures[k] || 0))
      })
      out.failurePct.push(calls > 0 ? Math.min(100, (100 * failed) / calls) : null)
      Object.keys(out.breakers).forEach(function(name) {
        var g = doc.guards.filter(function(v) {
          return v.kind === "CircuitBreaker" && v.name === name
        })[0]
        out.breakers[name].push(g && g.metrics.failureRate >= 0 ? g.metrics.failureRate : null)
      })
      prev = doc
    }
    return out
  }

  // Newest first: the log scrolls, and the change that matters is usually the last one.
  function transitions(documents) {
    return transitionsOldestFirst(documents).reverse()
  }

  function transitionsOldestFirst(documents) {
    var lines = []
    if (documents.length === 0) return lines
    var origin = documents[0].at
    var latest = documents[documents.length - 1]
    if (latest.transitions !== undefined) {
      // Exact times, from the guards' own events.
      return latest.transitions.filter(function(t) {
        return t.at >= origin
      }).map(function(t) {
        return seconds(t.at - origin) + "  " + t.name + ": " + t.from + " → " + t.to
      })
    }
    var last = {}
    documents.forEach(function(doc) {
      doc.guards.forEach(function(g) {
        if (g.state === undefined) return
        var key = g.kind + "/" + g.name
        if (last[key] !== undefined && last[key] !== g.state) {
          lines.push(seconds(doc.at - origin) + "  " + g.name + ": " + last[key] + " → " + g.state)
        }
        last[key] = g.state
      })
    })
    return lines
  }

  function chartOptions(title, names, yLabel, width, yMax) {
    return {
      title: title,
      width: width,
      height: 240,
      scales: {
        x: { time: false },
        y: yMax ? { range: [0, yMax] } : {
          range: function(u, min, max) {
            return [0, Math.max(1, max * 1.1)]
          }
        }
      },
      axes: [
        { stroke: "#8a9aab", grid: { stroke: "#263443" }, label: "seconds" },
        { stroke: "#8a9aab", grid: { stroke: "#263443" }, label: yLabel }
      ],
      series: [{ label: "t" }].concat(names.map(function(name, i) {
        return { label: name, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false }
      }))
    }
  }

  /** A chart that keeps its uPlot instance while its series stay the same. */
  function Chart(container, title, yLabel, yMax) {
    this.container = container
    this.title = title
    this.yLabel = yLabel
    this.yMax = yMax
    this.names = null
    this.plot = null
  }
  Chart.prototype.update = function(names, data) {
    var width = Math.max(320, this.container.clientWidth - 8)
    if (this.plot === null || this.names.join("\u0000") !== names.join("\u0000")) {
      if (this.plot !== null) this.plot.destroy()
      this.container.textContent = ""
      this.names = names
      this.plot = new uPlot(chartOptions(this.title, names, this.yLabel, width, this.yMax), data, this.container)
    } else {
      this.plot.setData(data)
    }
  }

  function loadData(s) {
    var names = Object.keys(s.traffic)
    return {
      names: names.map(function(n) {
        return n + " /s"
      }),
      data: [s.x].concat(names.map(function(n) {
        return s.traffic[n]
      }))
    }
  }

  function failureData(s) {
    var names = ["failed calls %"]
    var data = [s.x, s.failurePct]
    Object.keys(s.breakers).forEach(function(name) {
      names.push(name + " failure rate %")
      data.push(s.breakers[name])
      if (s.thresholds[name] !== undefined) {
        names.push(name + " threshold")
        data.push(s.x.map(function() {
          return s.thresholds[name]
        }))
      }
    })
    return { names: names, data: data }
  }

  function section(label, finished) {
    var load = el("div", { className: "panel chart", "data-chart": "load" })
    var failure = el("div", { className: "panel chart", "data-chart": "failure" })
    var breakdownSlot = el("div")
    var log = el(
      "div",
      { className: "panel" },
      el("h2", { text: "State changes, newest first" }),
      el("div", { className: "log", "data-order": "newest-first" })
    )
    var cards = el("div", { className: "cards" })
    var node = el(
      "section",
      { className: "run", "data-run": label },
      label ? el("h2", { text: label }) : null,
      el("div", { className: "row" }, load, failure),
      el("div", { className: "row" }, breakdownSlot, log),
      el("h2", { text: "Guards" }),
      cards
    )
    return {
      node: node,
      loadChart: new Chart(load, "Load: offered vs delivered", "requests / s"),
      failureChart: new Chart(failure, "Failure rate", "%", 100),
      render: function(documents) {
        if (documents.length === 0) return
        var latest = documents[documents.length - 1]
        var s = series(documents)
        var l = loadData(s)
        var f = failureData(s)
        this.loadChart.update(l.names, l.data)
        this.failureChart.update(f.names, f.data)
        breakdownSlot.textContent = ""
        breakdownSlot.appendChild(breakdown(latest.failures))
        var lines = transitions(documents)
        log.lastChild.textContent = lines.length === 0 ? (finished ? "none" : "none yet") : lines.join("\n")
        log.lastChild.style.whiteSpace = "pre"
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
      view.render(recording.documents)
      if (recording.documents.length > 0) final = recording.documents[recording.documents.length - 1].status
    })
    setStatus(final)
    document.getElementById("connection").textContent = "report"
    return
  }

  var live = section("", false)
  app.appendChild(live.node)
  var history = []
  var connection = document.getElementById("connection")

  function receive(doc) {
    if (history.length > 0 && history[history.length - 1].title !== doc.title) history = []
    history.push(doc)
    if (history.length > HISTORY) history.shift()
    document.getElementById("title").textContent = doc.title
    document.title = doc.title
    setStatus(doc.status)
    live.render(history)
    connection.textContent = "live · " + new Date().toLocaleTimeString()
  }

  var source = new EventSource("/breakwater/events")
  source.onmessage = function(message) {
    receive(JSON.parse(message.data))
  }
  source.onerror = function() {
    connection.textContent = "reconnecting…"
  }
  window.addEventListener("resize", function() {
    live.loadChart.plot = null
    live.failureChart.plot = null
    live.render(history)
  })
})()
