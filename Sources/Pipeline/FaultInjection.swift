// Deterministic crash points for resume tests: with IDPO_KILL_AT=<point>:<n> in the environment, the
// process kills itself with SIGKILL (as `kill -9` would) the n-th time it passes <point>. Points:
// generate-part, judge-part, train-step (each after its output was durably written).

import Foundation

public enum FaultInjection {
    nonisolated(unsafe) static var counts: [String: Int] = [:]
    static let target: (String, Int)? = {
        guard let spec = ProcessInfo.processInfo.environment["IDPO_KILL_AT"] else { return nil }
        let parts = spec.split(separator: ":")
        guard parts.count == 2, let n = Int(parts[1]) else { return nil }
        return (String(parts[0]), n)
    }()

    /// Marks passing `point`; dies here if the environment asks for it.
    public static func checkpoint(_ point: String) {
        guard let (name, n) = target, name == point else { return }
        counts[point, default: 0] += 1
        if counts[point] == n { kill(getpid(), SIGKILL) }
    }
}
