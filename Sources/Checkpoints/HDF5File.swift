// A thin, error-checked wrapper over the HDF5 C API: files, groups, float/uint64 datasets and
// string/integer attributes. Every failure is a thrown FileError naming the file and object,
// with the system error HDF5 saw ("no space left on device") when there was one, and every handle
// is closed on every path.
//
// Writing ends with `finishWriting()`, never a bare H5Fclose, because of two libhdf5 1.10 bugs met
// on a full disk: a flush that fails leaves the metadata cache unable to flush again ("slist
// already enabled?"), so every later close fails too; and a failed H5Fclose frees the file's state
// but leaves its ID registered, so the library's exit handler closes it again and dies with
// SIGSEGV in H5F__close_cb (HDFGroup/hdf5#2291, fixed upstream after 1.10). So the whole file's
// disk space is reserved before the one flush (a full disk is then reported before HDF5 fails), a
// file that cannot be completed is truncated to nothing before it is closed (its close then needs
// no space), and HDF5Library.prepare() keeps the exit handler out as a last resort.

import Foundation
import CHDF5
import Support

/// An open HDF5 file (closed on deinit; a file being written is discarded then).
final class HDF5File {
    let path: String
    let id: hid_t
    /// Opened by `create` (true) or `open` (false).
    let writable: Bool
    private var closed = false

    private init(path: String, id: hid_t, writable: Bool) { self.path = path; self.id = id; self.writable = writable }

    static func create(_ path: String) throws -> HDF5File {
        HDF5Library.prepare()
        let id = H5Fcreate(path, chdf5_acc_trunc(), chdf5_p_default(), chdf5_p_default())
        guard id >= 0 else { throw FileError(file: path, reason: "cannot create HDF5 file\(HDF5Library.systemErrorSuffix())") }
        return HDF5File(path: path, id: id, writable: true)
    }

    static func open(_ path: String) throws -> HDF5File {
        HDF5Library.prepare()
        let url = URL(fileURLWithPath: path)
        if !FileManager.default.fileExists(atPath: path) {
            throw FileError(file: path, reason: "no such file")
        }
        try FileRead.requireReadableFile(at: url, what: "HDF5 file")
        guard H5Fis_hdf5(path) > 0 else {
            throw FileError(file: path, reason: "not an HDF5 file (or truncated)")
        }
        let id = H5Fopen(path, chdf5_acc_rdonly(), chdf5_p_default())
        guard id >= 0 else { throw FileError(file: path, reason: "cannot open HDF5 file (truncated or damaged)") }
        return HDF5File(path: path, id: id, writable: false)
    }

    /// Writes a new file at `path`: `body` fills it, then it is flushed and closed. When `body` or
    /// the flush fails the file is discarded (truncated and closed, its handle released) and the
    /// first error is rethrown; the caller removes the file.
    static func write(_ path: String, _ body: (HDF5File) throws -> Void) throws {
        let file = try create(path)
        do {
            try body(file)
            try file.finishWriting()
        } catch {
            file.discard()
            throw error
        }
    }

    /// Flushes everything to the file, then closes it. The file's disk space is reserved first, so
    /// that the flush cannot run out of it; when the disk is full (the reservation or the flush
    /// fails) the file is discarded (see `discard`) and the error names the system error.
    func finishWriting() throws {
        guard !closed else { return }
        if let shortage = reserveSpaceForFlush() {
            let error = fail("cannot finish writing the file: \(shortage)")
            discard()
            throw error
        }
        guard H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0 else {
            let error = fail("cannot finish writing the file\(HDF5Library.systemErrorSuffix())")
            discard()
            throw error
        }
        closed = true
        guard H5Fclose(id) >= 0 else { throw fail("error closing HDF5 file\(HDF5Library.systemErrorSuffix())") }
    }

    /// Allocates disk blocks for the whole file as HDF5 has laid it out (its end-of-allocation),
    /// so that flushing buffered data and metadata only writes into space already held. This
    /// matters because in libhdf5 1.10 a failed flush leaves the metadata cache unable to flush
    /// ever again ("slist already enabled?"), so the file could then never be closed. Returns
    /// the reason when the disk is too full ("no space left on device"); nil when the space is
    /// held or the filesystem cannot reserve (the flush then reports its own errors).
    private func reserveSpaceForFlush() -> String? {
        var size: hsize_t = 0
        guard H5Fget_filesize(id, &size) >= 0, size > 0, let fd = fileDescriptor else { return nil }
        let result = chdf5_reserve_space(fd, off_t(clamping: size))
        return [ENOSPC, EDQUOT, EFBIG].contains(result) ? FileRead.describe(errno: result) : nil
    }

    /// The POSIX file descriptor under HDF5's default (sec2) driver.
    private var fileDescriptor: Int32? {
        var handle: UnsafeMutableRawPointer? = nil
        guard H5Fget_vfd_handle(id, chdf5_p_default(), &handle) >= 0, let handle else { return nil }
        return handle.load(as: Int32.self)
    }

    /// Closes a file (opened for reading: nothing to flush).
    func close() throws {
        guard !closed else { return }
        if writable { return try finishWriting() }
        closed = true
        guard H5Fclose(id) >= 0 else { throw fail("error closing HDF5 file") }
    }

    /// Gives up on a file being written: truncates it to zero bytes, which frees its disk space so
    /// that the flush inside H5Fclose can succeed (a failed one would leave libhdf5 holding a
    /// half-destroyed file), then closes it. The contents are garbage afterwards; callers delete the
    /// file. Should the close still fail (the disk filled by someone else meanwhile), the handle is
    /// lost but harmless: HDF5Library.prepare() keeps libhdf5's exit handler from touching it.
    func discard() {
        guard !closed else { return }
        closed = true
        if writable, let fd = fileDescriptor { _ = ftruncate(fd, 0) }
        _ = H5Fclose(id)
    }

    deinit {
        if writable { discard() } else if !closed { H5Fclose(id) }
    }

    func fail(_ what: String) -> FileError { FileError(file: path, reason: what) }

    // MARK: groups

    /// Creation properties with modification-time tracking off, so that the same contents always give
    /// the same bytes (HDF5 stamps object headers with times by default).
    private static func untimed(_ cls: hid_t) -> hid_t {
        let p = H5Pcreate(cls)
        H5Pset_obj_track_times(p, false)
        return p
    }

    func createGroup(_ name: String) throws {
        let gcpl = Self.untimed(chdf5_p_group_create())
        defer { H5Pclose(gcpl) }
        let g = H5Gcreate2(id, name, chdf5_p_default(), gcpl, chdf5_p_default())
        guard g >= 0 else { throw fail("cannot create group '\(name)'\(HDF5Library.systemErrorSuffix())") }
        H5Gclose(g)
    }

    func exists(_ name: String) -> Bool {
        // Check each path component (H5Lexists fails on missing intermediate groups).
        var prefix = ""
        for part in name.split(separator: "/") {
            prefix += "/" + part
            if H5Lexists(id, prefix, chdf5_p_default()) <= 0 { return false }
        }
        return true
    }

    /// How many links (datasets, groups) group `name` holds; nil when it does not exist.
    func memberCount(_ name: String) -> Int? {
        guard exists(name) else { return nil }
        var info = H5G_info_t()
        guard H5Gget_info_by_name(id, name, &info, chdf5_p_default()) >= 0 else { return nil }
        return Int(clamping: info.nlinks)
    }

    // MARK: datasets

    func writeFloats(_ name: String, shape: [Int], data: UnsafePointer<Float>) throws {
        try writeDataset(name, shape: shape, type: chdf5_native_float(), data: UnsafeRawPointer(data))
    }

    func writeUInt64s(_ name: String, values: [UInt64]) throws {
        try values.withUnsafeBufferPointer { buf in
            try writeDataset(name, shape: [values.count], type: chdf5_native_uint64(), data: UnsafeRawPointer(buf.baseAddress!))
        }
    }

    private func writeDataset(_ name: String, shape: [Int], type: hid_t, data: UnsafeRawPointer) throws {
        var dims = shape.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(dims.count), &dims, nil)
        guard space >= 0 else { throw fail("cannot create dataspace for '\(name)'") }
        defer { H5Sclose(space) }
        let dcpl = Self.untimed(chdf5_p_dataset_create())
        defer { H5Pclose(dcpl) }
        let dset = H5Dcreate2(id, name, type, space, chdf5_p_default(), dcpl, chdf5_p_default())
        guard dset >= 0 else { throw fail("cannot create dataset '\(name)'\(HDF5Library.systemErrorSuffix())") }
        defer { H5Dclose(dset) }
        guard H5Dwrite(dset, type, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), data) >= 0 else {
            throw fail("cannot write dataset '\(name)'\(HDF5Library.systemErrorSuffix())")
        }
    }

    /// Shape of dataset `name`.
    func shape(_ name: String) throws -> [Int] {
        guard exists(name) else { throw fail("missing dataset '\(name)'") }
        let dset = H5Dopen2(id, name, chdf5_p_default())
        guard dset >= 0 else { throw fail("cannot open dataset '\(name)'") }
        defer { H5Dclose(dset) }
        let space = H5Dget_space(dset)
        guard space >= 0 else { throw fail("bad dataspace for '\(name)'") }
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0 else { throw fail("bad dataspace for '\(name)'") }
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        return dims.prefix(rank).map { Int(clamping: $0) }
    }

    /// Reads float dataset `name` (which must have `shape`) into `destination`.
    func readFloats(_ name: String, shape expected: [Int], into destination: UnsafeMutablePointer<Float>) throws {
        let s = try shape(name)
        guard s == expected else { throw fail("dataset '\(name)' has shape \(s), expected \(expected)") }
        try readDataset(name, type: chdf5_native_float(), into: UnsafeMutableRawPointer(destination))
    }

    /// Reads uint64 dataset `name`, refusing one of more than `maximumCount` elements before allocating.
    func readUInt64s(_ name: String, maximumCount: Int) throws -> [UInt64] {
        let s = try shape(name)
        var count = 1
        for extent in s {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            count = overflow ? Int.max : product
        }
        guard count <= maximumCount else { throw fail("dataset '\(name)' has shape \(s), more than the \(maximumCount) elements expected") }
        var out = [UInt64](repeating: 0, count: count)
        try out.withUnsafeMutableBufferPointer { buf in
            try readDataset(name, type: chdf5_native_uint64(), into: UnsafeMutableRawPointer(buf.baseAddress!))
        }
        return out
    }

    private func readDataset(_ name: String, type: hid_t, into: UnsafeMutableRawPointer) throws {
        let dset = H5Dopen2(id, name, chdf5_p_default())
        guard dset >= 0 else { throw fail("cannot open dataset '\(name)'") }
        defer { H5Dclose(dset) }
        guard H5Dread(dset, type, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), into) >= 0 else {
            throw fail("cannot read dataset '\(name)' (truncated or damaged file)")
        }
    }

    // MARK: attributes (on the object at path `object`, "/" for the file)

    func setAttribute(_ object: String, _ name: String, string value: String) throws {
        let bytes = Array(value.utf8)
        let type = H5Tcopy(chdf5_c_s1())
        defer { H5Tclose(type) }
        H5Tset_size(type, max(1, bytes.count))
        try writeAttribute(object, name, type: type) { attr in
            var padded = bytes.isEmpty ? [UInt8(0)] : bytes
            return H5Awrite(attr, type, &padded)
        }
    }

    func setAttribute(_ object: String, _ name: String, int value: Int64) throws {
        var v = value
        try writeAttribute(object, name, type: chdf5_native_int64()) { attr in H5Awrite(attr, chdf5_native_int64(), &v) }
    }

    private func writeAttribute(_ object: String, _ name: String, type: hid_t, _ write: (hid_t) -> herr_t) throws {
        let space = H5Screate(H5S_SCALAR)
        defer { H5Sclose(space) }
        let attr = H5Acreate_by_name(id, object, name, type, space, chdf5_p_default(), chdf5_p_default(), chdf5_p_default())
        guard attr >= 0 else { throw fail("cannot create attribute '\(name)' on '\(object)'") }
        defer { H5Aclose(attr) }
        guard write(attr) >= 0 else { throw fail("cannot write attribute '\(name)' on '\(object)'\(HDF5Library.systemErrorSuffix())") }
    }

    func hasAttribute(_ object: String, _ name: String) -> Bool {
        H5Aexists_by_name(id, object, name, chdf5_p_default()) > 0
    }

    /// The largest string attribute read (config and metadata JSON are far smaller).
    static let maximumAttributeBytes = 64 << 20

    func stringAttribute(_ object: String, _ name: String) throws -> String {
        guard hasAttribute(object, name) else { throw fail("missing attribute '\(name)' on '\(object)'") }
        let attr = H5Aopen_by_name(id, object, name, chdf5_p_default(), chdf5_p_default())
        guard attr >= 0 else { throw fail("cannot open attribute '\(name)'") }
        defer { H5Aclose(attr) }
        let type = H5Aget_type(attr)
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_STRING else { throw fail("attribute '\(name)' is not a string") }
        guard H5Tis_variable_str(type) <= 0 else { throw fail("attribute '\(name)' is a variable-length string (unsupported)") }
        let size = H5Tget_size(type)
        guard size <= Self.maximumAttributeBytes else {
            throw fail("attribute '\(name)' claims \(size) bytes, more than the \(Self.maximumAttributeBytes) allowed")
        }
        var buf = [UInt8](repeating: 0, count: size + 1)
        guard H5Aread(attr, type, &buf) >= 0 else { throw fail("cannot read attribute '\(name)'") }
        let end = buf.firstIndex(of: 0) ?? size
        return String(decoding: buf[..<min(end, size)], as: UTF8.self)
    }

    func intAttribute(_ object: String, _ name: String) throws -> Int64 {
        guard hasAttribute(object, name) else { throw fail("missing attribute '\(name)' on '\(object)'") }
        let attr = H5Aopen_by_name(id, object, name, chdf5_p_default(), chdf5_p_default())
        guard attr >= 0 else { throw fail("cannot open attribute '\(name)'") }
        defer { H5Aclose(attr) }
        var v: Int64 = 0
        guard H5Aread(attr, chdf5_native_int64(), &v) >= 0 else { throw fail("cannot read attribute '\(name)'") }
        return v
    }
}
