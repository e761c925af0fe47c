// The work and size budget of one render, reachable from the value helpers (comparison, repr,
// JSON, join, replace, indent) that can do a lot of work on small-looking values: a list holding
// the same 60 MB string eight million times is cheap to build but not to print or compare.

/// Counts the work a render does on strings and lists and refuses values built too large.
///
/// The renderer charges every operation with the sizes of the values it takes and makes (UTF-8
/// bytes of a string; `itemCost` per list or dictionary item, about what an item takes in memory);
/// helpers that walk nested values charge each item they visit. Charging never throws: it marks the meter exhausted, helpers stop early, and the
/// renderer fails the render with a located `.limit` error at its next check.
final class RenderMeter: @unchecked Sendable {
    /// The meter of the render running on this thread; nil outside a render (no limits then).
    @TaskLocal static var current: RenderMeter?

    /// The work a list or dictionary item counts for, in bytes.
    static let itemCost = 32
    /// Work allowed in one render, in bytes.
    let workLimit: Int
    /// The largest string a helper may build, in UTF-8 bytes (the render's output limit).
    let sizeLimit: Int
    /// Work done so far.
    private(set) var work = 0
    /// Why the render must stop, once a limit was passed.
    private(set) var exhaustion: String?

    init(workLimit: Int, sizeLimit: Int) {
        self.workLimit = workLimit
        self.sizeLimit = sizeLimit
    }

    var isExhausted: Bool { exhaustion != nil }

    /// Adds `amount` bytes of work.
    @inline(__always) func charge(_ amount: Int) {
        work &+= amount
        if work > workLimit && exhaustion == nil {
            exhaustion = "more than \(workLimit) bytes of strings and lists processed in one render"
        }
    }

    /// Marks the meter exhausted for another reason (the first reason is kept).
    func exhaust(_ reason: String) {
        if exhaustion == nil { exhaustion = reason }
    }

    /// The work a value counts for: UTF-8 bytes of a string, `itemCost` per item of a list, tuple or
    /// dictionary, 0 for the rest. O(1).
    @inline(__always) static func size(of value: TemplateValue) -> Int {
        switch value {
        case .string(let s): return s.utf8.count
        case .array(let items), .tuple(let items): return items.count &* itemCost
        case .dictionary(let d): return d.count &* itemCost
        default: return 0
        }
    }
}

/// Throws a `.limit` failure when a string a helper is about to build (`bytes` long) is larger than
/// the render's size limit, so that it is refused before it is built. Outside a render, no limit.
func checkBuiltSize(_ bytes: Int) throws {
    if let meter = RenderMeter.current, bytes > meter.sizeLimit {
        throw RuntimeFailure(.limit, "string longer than \(meter.sizeLimit) bytes")
    }
}

/// Throws a `.limit` failure when a list a helper is about to build (`items` long) has more items
/// than the render's size limit allows (8 bytes an item, as the renderer counts lists).
func checkBuiltListSize(_ items: Int) throws {
    if let meter = RenderMeter.current, items > meter.sizeLimit / 8 {
        throw RuntimeFailure(.limit, "list longer than \(meter.sizeLimit / 8) items")
    }
}

/// `parts` joined with `separator`, refused (before it is built) when longer than the render's
/// size limit.
func joinChecked(_ parts: [String], separator: String) throws -> String {
    var bytes = parts.count > 1 ? (parts.count - 1) &* separator.utf8.count : 0
    for part in parts { bytes &+= part.utf8.count }
    try checkBuiltSize(bytes)
    return parts.joined(separator: separator)
}

/// Charges the render's meter for walking a list or dictionary of `items` items (at least one item
/// a visit); returns true when the meter is exhausted, so that the walk should stop.
@inline(__always) func chargeWalk(items: Int) -> Bool {
    guard let meter = RenderMeter.current else { return false }
    meter.charge(Swift.max(1, items) &* RenderMeter.itemCost)
    return meter.isExhausted
}
