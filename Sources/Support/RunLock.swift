// The exclusive lock that keeps a second idpo process out of a run directory.

import Foundation

public struct RunLockError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An exclusive lock on a run directory (flock on `.lock`), released on deinit or process exit.
public final class RunLock {
    let fd: Int32
    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(".lock").path
        fd = open(path, O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { throw RunLockError("cannot open \(path)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw RunLockError("another idpo process is writing \(directory.path) (lock \(path) is held); wait for it or stop it first")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { write(fd, $0, strlen($0)) }
    }
    deinit { flock(fd, LOCK_UN); close(fd) }
}
