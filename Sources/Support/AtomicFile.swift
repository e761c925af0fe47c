// Atomic file replacement — write a temporary sibling `.<name>.tmp-<pid>`, fsync it, rename it over
// the target, fsync the folder — so readers see the old file or the complete new one, never a
// half-written file. A failed write (a full disk included) is a FileError naming the target
// and the system error, and leaves no temporary file; temporaries left by killed processes are
// found and removed by `removeStaleTemporaries`.

import Foundation

public enum AtomicFile {
    /// Replaces `url` with what `produce` writes to the temporary URL it is given. When `produce`,
    /// the fsync or the rename fails, the temporary file is removed, `url` keeps its old contents,
    /// and the error is rethrown (a FileError naming the temporary file is renamed to name `url`).
    public static func write(to url: URL, _ produce: (URL) throws -> Void) throws {
        let dir = url.deletingLastPathComponent()
        try createDirectory(at: dir)
        let tmp = temporaryURL(for: url)
        unlink(tmp.path)
        do {
            try produce(tmp)
            try fsyncPath(tmp.path)
            guard rename(tmp.path, url.path) == 0 else {
                throw FileError(file: url.path, reason: "cannot rename temporary file: \(FileRead.describe(errno: errno))")
            }
            try? fsyncPath(dir.path)
        } catch let error as FileError {
            unlink(tmp.path)
            throw error.file == tmp.path ? FileError(file: url.path, reason: error.reason) : error
        } catch {
            unlink(tmp.path)
            throw error
        }
    }

    /// Atomically replaces `url` with `data`; a failed write names `url` and the system error
    /// ("<url>: cannot write: no space left on device").
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { tmp in
            let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
            guard fd >= 0 else { throw FileError(file: tmp.path, reason: "cannot create: \(FileRead.describe(errno: errno))") }
            var written = 0
            let writeError: Int32? = data.withUnsafeBytes { buffer in
                while written < buffer.count {
                    let n = Foundation.write(fd, buffer.baseAddress! + written, buffer.count - written)
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 { return errno }
                    if n == 0 { return EIO }
                    written += n
                }
                return nil
            }
            let closeError: Int32? = Foundation.close(fd) == 0 ? nil : errno
            if let code = writeError ?? closeError {
                throw FileError(file: tmp.path, reason: "cannot write: \(FileRead.describe(errno: code))")
            }
        }
    }

    /// Creates `directory` and its parents when missing; a failure names the folder and the system
    /// error ("<dir>: cannot create the folder: permission denied").
    public static func createDirectory(at directory: URL) throws {
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw FileError(file: directory.path, reason: "cannot create the folder: \(describe(error))")
        }
    }

    /// Where `write` puts its temporary file for `url`: `.<name>.tmp-<pid>` in the same folder.
    public static func temporaryURL(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    }

    /// Removes the temporary files (`.<name>.tmp-<pid>`, regular files only) that `write` left in
    /// `directory` (and its subfolders when `recursive`, not following symbolic links) in processes
    /// that no longer run — `kill(pid, 0)` fails with ESRCH — or in this process, and returns what
    /// it removed. Call it when this process has no atomic write in flight (e.g. when a run resumes).
    /// Unreadable folders are skipped.
    @discardableResult
    public static func removeStaleTemporaries(in directory: URL, recursive: Bool) -> [URL] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        var removed: [URL] = []
        for name in names.sorted() {
            let url = directory.appendingPathComponent(name)
            var status = stat()
            guard lstat(url.path, &status) == 0 else { continue }
            switch status.st_mode & S_IFMT {
            case S_IFDIR where recursive:
                removed += removeStaleTemporaries(in: url, recursive: true)
            case S_IFREG:
                if let pid = temporaryOwner(name), isGone(pid), unlink(url.path) == 0 { removed.append(url) }
            default:
                continue
            }
        }
        return removed
    }

    /// The pid in a temporary file name `.<name>.tmp-<pid>`, or nil for any other name.
    static func temporaryOwner(_ fileName: String) -> pid_t? {
        guard fileName.hasPrefix("."), let marker = fileName.range(of: ".tmp-", options: .backwards),
              marker.lowerBound > fileName.index(after: fileName.startIndex) else { return nil }
        let digits = fileName[marker.upperBound...]
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let pid = pid_t(digits), pid > 0 else { return nil }
        return pid
    }

    /// Whether process `pid` no longer runs (or is this process, whose temporaries are stale
    /// whenever it has no write in flight). A process of another user (EPERM) counts as running.
    static func isGone(_ pid: pid_t) -> Bool {
        if pid == getpid() { return true }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    static func fsyncPath(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(file: path, reason: "cannot open for fsync: \(FileRead.describe(errno: errno))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileError(file: path, reason: "cannot write (fsync failed): \(FileRead.describe(errno: errno))") }
    }

    /// The system error inside a Foundation error when there is one ("no space left on device"),
    /// else its description.
    static func describe(_ error: Error) -> String {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return FileRead.describe(errno: Int32(ns.code)) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return FileRead.describe(errno: Int32(underlying.code))
        }
        return ns.localizedDescription
    }
}
