/* global window */
// breakwater dashboard page script, part 1 of 3: the cards (a guard's view and an HTTP edge's figures)
// and the failure breakdown. Plain browser JavaScript, no build step; see dashboard.js.
;(function(ns) {
  "use strict"

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

  // For the later parts (see dashboard.js).
  ns.REASONS = REASONS
  ns.el = el
  ns.fmt = fmt
  ns.outboundCard = outboundCard
  ns.inboundCard = inboundCard
  ns.card = card
  ns.breakdown = breakdown
})(window.breakwaterDashboard = window.breakwaterDashboard || {})
