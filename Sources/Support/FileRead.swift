// Reading files with errors a person can act on: every failure is a FileError that names the
// file, what it was read as, and why ("is a directory", "permission denied", "is a character
// device, not a regular file", "is 3 GB, more than the 100 MB allowed") — never Foundation's
// "NSCocoaErrorDomain error 256" — and a device or FIFO is refused instead of read forever.

import Foundation

/// A file that cannot be read or written as asked, or whose contents are wrong: names the file and why.
public struct FileError: Error, CustomStringConvertible {
    public let file: String
    public let reason: String
    public init(file: String, reason: String) { self.file = file; self.reason = reason }
    public var description: String { "\(file): \(reason)" }
}

public enum FileRead {
    /// The whole contents of the regular file at `url`.
    ///
    /// - Parameters:
    ///   - what: what the file is to the caller (e.g. "config.json", "the shard index"); it appears in
    ///     the message: "<path>: cannot read the shard index: is a directory".
    ///   - maxBytes: refuse a file larger than this many bytes (before reading any of it).
    /// - Throws: `FileError` naming the file for a missing, unreadable or non-regular file
    ///   (directory, character or block device, FIFO, socket), one over `maxBytes`, or a read error.
    public static func data(at url: URL, what: String, maxBytes: Int? = nil) throws -> Data {
        let file = try OpenedFile(url: url, what: what)
        defer { file.close() }
        if let maxBytes, file.size > maxBytes {
            throw FileError(file: url.path, reason: "cannot read \(what): it is \(byteCount(file.size)), more than the \(byteCount(maxBytes)) allowed")
        }
        var data = Data(count: file.size)
        var filled = 0
        try data.withUnsafeMutableBytes { buffer in
            while filled < file.size {
                let n = Foundation.read(file.descriptor, buffer.baseAddress! + filled, file.size - filled)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw file.failure(errno) }
                if n == 0 { break }          // the file shrank while we read it: keep what is there
                filled += n
            }
        }
        if filled < file.size { data.removeSubrange(filled...) }
        return data
    }

    /// Throws unless `url` names a regular file this process can open for reading (the same checks
    /// and messages as `data(at:what:maxBytes:)`, without reading anything).
    public static func requireReadableFile(at url: URL, what: String) throws {
        try OpenedFile(url: url, what: what).close()
    }

    /// `strerror(code)` with a lower-case first letter, for messages: "no space left on device",
    /// "permission denied", "is a directory", "no such file or directory".
    public static func describe(errno code: Int32) -> String {
        let text = String(cString: strerror(code))
        return text.prefix(1).lowercased() + text.dropFirst()
    }

    /// "512 bytes", "3.2 MB", "12.0 GB" (decimal units).
    public static func byteCount(_ bytes: Int) -> String {
        if bytes < 1000 { return "\(bytes) bytes" }
        let units = ["kB", "MB", "GB", "TB", "PB", "EB"]
        var value = Double(bytes) / 1000, unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return String(format: "%.1f %@", value, units[unit])
    }
}

/// A file opened read-only after checking that it is a regular file; errors name the file.
public struct OpenedFile {
    public let url: URL
    public let what: String
    public let descriptor: Int32
    public let size: Int

    /// Opens without blocking (a FIFO with no writer would otherwise hang here), then refuses anything
    /// that is not a regular file before a byte is read.
    public init(url: URL, what: String) throws {
        self.url = url
        self.what = what
        let fd = open(url.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw FileError(file: url.path, reason: "cannot read \(what): \(FileRead.describe(errno: code))")
        }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let code = errno
            Foundation.close(fd)
            throw FileError(file: url.path, reason: "cannot read \(what): \(FileRead.describe(errno: code))")
        }
        let kind = status.st_mode & S_IFMT
        guard kind == S_IFREG else {
            Foundation.close(fd)
            throw FileError(file: url.path, reason: "cannot read \(what): \(Self.describe(kind: kind))")
        }
        // Regular files ignore O_NONBLOCK, but reads should block normally from here on.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        descriptor = fd
        size = Int(status.st_size)
    }

    public func close() { Foundation.close(descriptor) }

    /// A read failure with errno `code`, naming the file.
    public func failure(_ code: Int32) -> FileError {
        FileError(file: url.path, reason: "cannot read \(what): \(FileRead.describe(errno: code))")
    }

    /// Why a file of type `kind` (the S_IFMT bits) is refused.
    static func describe(kind: mode_t) -> String {
        switch kind {
        case S_IFDIR: return "is a directory"
        case S_IFCHR: return "is a character device, not a regular file"
        case S_IFBLK: return "is a block device, not a regular file"
        case S_IFIFO: return "is a FIFO (named pipe), not a regular file"
        case S_IFSOCK: return "is a socket, not a regular file"
        default: return "is not a regular file"
        }
    }
}
