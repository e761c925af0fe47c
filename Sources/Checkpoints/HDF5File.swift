// A thin, error-checked wrapper over the HDF5 C API: files, groups, float/uint64 datasets and
// string/integer attributes. Every failure is a thrown CheckpointError naming the file and object.

import Foundation
import CHDF5

/// An open HDF5 file (closed on deinit).
final class HDF5File {
    let path: String
    let id: hid_t
    private var closed = false

    private init(path: String, id: hid_t) { self.path = path; self.id = id }

    /// Silences HDF5's automatic error-stack printing (errors become thrown values instead).
    static let quiet: Void = { _ = H5Eset_auto2(chdf5_e_default(), nil, nil) }()

    static func create(_ path: String) throws -> HDF5File {
        _ = quiet
        let id = H5Fcreate(path, chdf5_acc_trunc(), chdf5_p_default(), chdf5_p_default())
        guard id >= 0 else { throw CheckpointError(file: path, reason: "cannot create HDF5 file") }
        return HDF5File(path: path, id: id)
    }

    static func open(_ path: String) throws -> HDF5File {
        _ = quiet
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError(file: path, reason: "no such file")
        }
        guard H5Fis_hdf5(path) > 0 else {
            throw CheckpointError(file: path, reason: "not an HDF5 file (or truncated)")
        }
        let id = H5Fopen(path, chdf5_acc_rdonly(), chdf5_p_default())
        guard id >= 0 else { throw CheckpointError(file: path, reason: "cannot open HDF5 file (truncated or damaged)") }
        return HDF5File(path: path, id: id)
    }

    func close() throws {
        guard !closed else { return }
        closed = true
        guard H5Fclose(id) >= 0 else { throw CheckpointError(file: path, reason: "error closing HDF5 file") }
    }

    deinit { if !closed { H5Fclose(id) } }

    func fail(_ what: String) -> CheckpointError { CheckpointError(file: path, reason: what) }

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
        guard g >= 0 else { throw fail("cannot create group '\(name)'") }
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
        guard dset >= 0 else { throw fail("cannot create dataset '\(name)'") }
        defer { H5Dclose(dset) }
        guard H5Dwrite(dset, type, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), data) >= 0 else {
            throw fail("cannot write dataset '\(name)'")
        }
    }

    /// Shape of dataset `name`.
    func shape(_ name: String) throws -> [Int] {
        guard exists(name) else { throw fail("missing dataset '\(name)'") }
        let dset = H5Dopen2(id, name, chdf5_p_default())
        guard dset >= 0 else { throw fail("cannot open dataset '\(name)'") }
        defer { H5Dclose(dset) }
        let space = H5Dget_space(dset)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0 else { throw fail("bad dataspace for '\(name)'") }
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        return dims.prefix(rank).map { Int($0) }
    }

    /// Reads float dataset `name` (which must have `shape`) into `destination`.
    func readFloats(_ name: String, shape expected: [Int], into destination: UnsafeMutablePointer<Float>) throws {
        let s = try shape(name)
        guard s == expected else { throw fail("dataset '\(name)' has shape \(s), expected \(expected)") }
        try readDataset(name, type: chdf5_native_float(), into: UnsafeMutableRawPointer(destination))
    }

    func readUInt64s(_ name: String) throws -> [UInt64] {
        let s = try shape(name)
        var out = [UInt64](repeating: 0, count: s.reduce(1, *))
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
        guard write(attr) >= 0 else { throw fail("cannot write attribute '\(name)' on '\(object)'") }
    }

    func hasAttribute(_ object: String, _ name: String) -> Bool {
        H5Aexists_by_name(id, object, name, chdf5_p_default()) > 0
    }

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
