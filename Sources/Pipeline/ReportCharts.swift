// Inline SVG charts for the HTML report: named series of (x, y) points drawn as lines and/or dots,
// both axes ticked at round values and labelled, optional dashed vertical markers (iteration
// boundaries), and the legend in rows above the plotted area so that it never covers the data.

import Foundation
import Support

/// One line/points chart; `svg` renders it. The plotted area is `<rect class='plot'>`, tick labels
/// are `<text class='xtick'>` / `<text class='ytick'>` and legend entries `<g class='legend'>`.
struct SVGChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        /// Dots at the points (a series of one point always gets one).
        var dots = false
        var dashed = false
    }

    var title: String
    var xLabel: String
    var series: [Series]
    /// x ticks at whole numbers only (iterations, optimizer steps).
    var integerX = true
    /// How a y tick value is written.
    var yFormat: (Double) -> String = { String(format: "%.3g", $0) }
    /// x positions of dashed vertical lines (where an iteration's steps begin).
    var markers: [Double] = []
    var width = 520, height = 250

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

    /// The step between about `count` round ticks (1, 2 or 5 × 10ⁿ) over a span; at least 1 if `integer`.
    static func tickStep(_ span: Double, count: Int = 5, integer: Bool) -> Double {
        let raw = max(span, 1e-12) / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let r = raw / magnitude
        let step = (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * magnitude
        return integer ? max(1, step.rounded()) : step
    }

    /// The chart as `<svg>`, or a one-line note when no series has a finite point.
    func svg() -> String {
        let points = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        guard !points.isEmpty else { return "<p class='muted'>\(htmlEscape(title)): no data</p>" }
        // x: the data's range (a lone x padded); y: widened to whole ticks
        var x0 = points.map(\.x).min()!, x1 = points.map(\.x).max()!
        if x1 - x0 < 1e-12 { x0 -= 0.5; x1 += 0.5 }
        var y0 = points.map(\.y).min()!, y1 = points.map(\.y).max()!
        if y1 - y0 < 1e-12 { let pad = max(abs(y0) * 0.05, 0.01); y0 -= pad; y1 += pad }
        let yStep = Self.tickStep(y1 - y0, integer: false)
        y0 = (y0 / yStep).rounded(.down) * yStep; y1 = (y1 / yStep).rounded(.up) * yStep
        // legend rows above the plot (entries wrap at the chart's width)
        let left = 58.0, right = 14.0, bottom = 40.0
        var legend: [(x: Double, row: Int)] = [], lx = left, row = 0
        for s in series {
            let w = 28 + 6.5 * Double(s.name.count)
            if lx + w > Double(width) - right && lx > left { lx = left; row += 1 }
            legend.append((lx, row)); lx += w
        }
        let top = 26 + 15 * Double(row + 1) + 6
        let w = Double(width) - left - right, h = Double(height) - top - bottom
        func px(_ x: Double) -> Double { left + w * (x - x0) / (x1 - x0) }
        func py(_ y: Double) -> Double { top + h * (1 - (y - y0) / (y1 - y0)) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var svg = "<svg xmlns='http://www.w3.org/2000/svg' class='chart' width='\(width)' height='\(height)' role='img' aria-label='\(htmlEscape(title))'>"
        svg += "<text x='\(f(left))' y='16' font-size='13' font-weight='bold'>\(htmlEscape(title))</text>"
        for (i, s) in series.enumerated() {
            let color = Self.colors[i % Self.colors.count], y = 26 + 15 * Double(legend[i].row) + 4, x = legend[i].x
            svg += "<g class='legend'><line x1='\(f(x))' y1='\(f(y))' x2='\(f(x + 18))' y2='\(f(y))' stroke='\(color)' stroke-width='2'\(s.dashed ? " stroke-dasharray='4 3'" : "")/>"
            svg += "<text x='\(f(x + 22))' y='\(f(y + 4))' font-size='11' fill='\(color)'>\(htmlEscape(s.name))</text></g>"
        }
        svg += "<rect class='plot' x='\(f(left))' y='\(f(top))' width='\(f(w))' height='\(f(h))' fill='none' stroke='#999'/>"
        var v = y0
        while v <= y1 + yStep * 1e-6 {
            svg += "<line x1='\(f(left))' y1='\(f(py(v)))' x2='\(f(left + w))' y2='\(f(py(v)))' stroke='#eee'/>"
            svg += "<text class='ytick' x='\(f(left - 4))' y='\(f(py(v) + 3))' font-size='10' text-anchor='end'>\(yFormat(abs(v) < yStep * 1e-6 ? 0 : v))</text>"
            v += yStep
        }
        let xStep = Self.tickStep(x1 - x0, integer: integerX)
        v = (x0 / xStep).rounded(.up) * xStep
        while v <= x1 + xStep * 1e-6 {
            svg += "<line x1='\(f(px(v)))' y1='\(f(top + h))' x2='\(f(px(v)))' y2='\(f(top + h + 4))' stroke='#999'/>"
            svg += "<text class='xtick' x='\(f(px(v)))' y='\(f(top + h + 15))' font-size='10' text-anchor='middle'>\(integerX ? String(Int(v.rounded())) : String(format: "%g", v))</text>"
            v += xStep
        }
        svg += "<text x='\(f(left + w / 2))' y='\(height - 6)' font-size='11' text-anchor='middle'>\(htmlEscape(xLabel))</text>"
        for m in markers where m > x0 && m < x1 {
            svg += "<line class='marker' x1='\(f(px(m)))' y1='\(f(top))' x2='\(f(px(m)))' y2='\(f(top + h))' stroke='#888' stroke-dasharray='3 3'/>"
        }
        for (i, s) in series.enumerated() {
            let color = Self.colors[i % Self.colors.count]
            let pts = s.points.filter { $0.x.isFinite && $0.y.isFinite }
            if pts.count > 1 {
                svg += "<polyline fill='none' stroke='\(color)' stroke-width='1.8'\(s.dashed ? " stroke-dasharray='4 3'" : "") points='\(pts.map { f(px($0.x)) + "," + f(py($0.y)) }.joined(separator: " "))'/>"
            }
            if s.dots || pts.count == 1 {
                for p in pts { svg += "<circle cx='\(f(px(p.x)))' cy='\(f(py(p.y)))' r='3.5' fill='\(color)'/>" }
            }
        }
        return svg + "</svg>"
    }
}
