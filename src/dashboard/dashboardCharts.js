/* global uPlot, window */
// breakwater dashboard page script, part 2 of 3: the charts (their series from the timeline's points),
// the "failing now" headline and the state-change log. Plain browser JavaScript; see dashboard.js.
;(function(ns) {
  "use strict"

  // Defined by an earlier part (see dashboard.js): the parts are served as one script, in order.
  var REASONS = ns.REASONS
  var el = ns.el
  var fmt = ns.fmt

  // The window the "failing now" headline reads: long enough to smooth, short enough to follow a phase.
  var NOW_MILLIS = 3000
  var COLORS = ["#4c9aff", "#2fbf71", "#e5484d", "#f0b429", "#8e4ec6", "#f76b15", "#12a594", "#d6409f"]

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

  // For the later parts (see dashboard.js).
  ns.chartsOf = chartsOf
  ns.headline = headline
  ns.transitions = transitions
  ns.Chart = Chart
  ns.CHARTS = CHARTS
  ns.chartData = chartData
})(window.breakwaterDashboard = window.breakwaterDashboard || {})
