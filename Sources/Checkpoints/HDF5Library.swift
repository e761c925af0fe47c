// The HDF5 library this build links (checkpoint I/O builds on it): one-time set-up before the first
// HDF5 call, the system error behind a failed call, and a count of open HDF5 objects.

import Foundation
import CHDF5
import Support

public enum HDF5Library {
    /// "major.minor.release" of the linked libhdf5.
    public static var version: String {
        prepare()
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        H5get_libversion(&major, &minor, &release)
        return "\(major).\(minor).\(release)"
    }

    /// Set-up that must precede every other HDF5 call (done once; every entry point calls it):
    /// - no atexit handler: idpo closes every file itself, and libhdf5 1.10's exit-time clean-up
    ///   crashes on a file whose close failed (see HDF5File), turning a reported error into a SIGSEGV;
    /// - no automatic printing of HDF5's error stack: errors become thrown values instead.
    static func prepare() { _ = prepared }

    private static let prepared: Void = {
        _ = H5dont_atexit()
        _ = H5Eset_auto2(chdf5_e_default(), nil, nil)
    }()

    /// How many HDF5 objects (files, datasets, groups, types, attributes) are open in this process.
    /// Zero whenever no HDF5File is alive.
    public static var openObjectCount: Int {
        prepare()
        return Int(H5Fget_obj_count(hid_t(chdf5_obj_all()), chdf5_obj_all()))
    }

    /// The system error (errno) recorded on HDF5's current error stack, as ": no space left on
    /// device", or "" when the failure was not a system call's. For appending to a message.
    static func systemErrorSuffix() -> String {
        final class Found { var code: Int32? }
        let found = Found()
        let visit: H5E_walk2_t = { _, entry, context in
            guard let entry, let context, let description = entry.pointee.desc else { return 0 }
            let text = String(cString: description)
            if let range = text.range(of: "errno = ") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let code = Int32(digits), code > 0 {
                    Unmanaged<Found>.fromOpaque(context).takeUnretainedValue().code = code
                }
            }
            return 0
        }
        _ = H5Ewalk2(chdf5_e_default(), H5E_WALK_DOWNWARD, visit, Unmanaged.passUnretained(found).toOpaque())
        return found.code.map { ": " + FileRead.describe(errno: $0) } ?? ""
    }
}
