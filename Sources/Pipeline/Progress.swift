// Progress reporting: a bar with rate and ETA on a terminal, plain periodic log lines otherwise.

import Foundation

public final class ProgressBar {
    let label: String
    let total: Int
    let unit: String
    let start = Date()
    var lastPrint = Date.distantPast
    let interactive: Bool
    public private(set) var done = 0

    public init(_ label: String, total: Int, unit: String = "items") {
        self.label = label; self.total = total; self.unit = unit
        interactive = isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["IDPO_PLAIN_PROGRESS"] == nil
    }

    /// Moves the bar to `value` (out of `total`).
    public func update(_ value: Int, extra: String = "") {
        done = value
        let now = Date()
        let finished = value >= total
        guard finished || now.timeIntervalSince(lastPrint) >= (interactive ? 0.2 : 10) else { return }
        lastPrint = now
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(value) / elapsed : 0
        let eta = rate > 0 ? Double(total - value) / rate : 0
        let fraction = total > 0 ? Double(value) / Double(total) : 1
        let stats = String(format: "%d/%d %@  %.2f %@/s  elapsed %@  ETA %@", value, total, unit, rate, unit,
                           Self.clock(elapsed), Self.clock(eta)) + (extra.isEmpty ? "" : "  " + extra)
        if interactive {
            let width = 28
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(label) \(bar) \(stats)".utf8))
            if finished { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            FileHandle.standardError.write(Data("\(label): \(stats)\n".utf8))
        }
    }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}

/// Information printed to standard error (one line each), e.g. a stage's memory plan.
public func note(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}

/// Warnings printed to standard error (one line each).
public func warn(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}

private let warnedLock = NSLock()
nonisolated(unsafe) private var warnedMessages = Set<String>()

/// `warn`, but each distinct message once per process (a model loaded again by a later stage).
public func warnOnce(_ message: String) {
    warnedLock.lock()
    let first = warnedMessages.insert(message).inserted
    warnedLock.unlock()
    if first { warn(message) }
}
