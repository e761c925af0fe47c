// What processor this is and which OpenBLAS kernels serve it — detected at run time, never assumed.
//
// Debian 12's OpenBLAS 0.3.21 does not know CPUs newer than itself and falls back to its generic
// Prescott (SSE3) kernels on them: a 5× slower sgemm, silently. `BLASCore.choice` compares the core
// OpenBLAS selected with the CPU's features and names the best core the library has for them; the
// executable then sets OPENBLAS_CORETYPE (unless the user set it) and re-executes itself once, so
// OpenBLAS initialises with that core (`idpo` does this first thing in `main`).

import Foundation
import CBLAS

/// The processor: model name, vendor and feature flags (from /proc/cpuinfo on Linux).
public struct CPUInfo: Sendable {
    public let modelName: String
    public let vendor: String
    public let family: Int?
    public let model: Int?
    public let flags: Set<String>

    public init(modelName: String, vendor: String, family: Int? = nil, model: Int? = nil, flags: Set<String>) {
        self.modelName = modelName; self.vendor = vendor; self.family = family; self.model = model; self.flags = flags
    }

    /// This machine's processor (read once).
    public static let current: CPUInfo = read(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")

    /// Parses the first processor block of /proc/cpuinfo text (x86 "flags", Arm "Features").
    public static func read(cpuinfo text: String) -> CPUInfo {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { if !fields.isEmpty { break } else { continue } }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            if fields[key] == nil { fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        let flags = Set((fields["flags"] ?? fields["Features"] ?? "").split(separator: " ").map(String.init))
        #if arch(arm64)
        let fallbackName = "arm64"
        #else
        let fallbackName = "unknown x86-64"
        #endif
        return CPUInfo(modelName: fields["model name"] ?? fields["CPU part"].map { "Arm CPU part \($0)" } ?? fallbackName,
                       vendor: fields["vendor_id"] ?? fields["CPU implementer"] ?? "unknown",
                       family: fields["cpu family"].flatMap { Int($0) }, model: fields["model"].flatMap { Int($0) }, flags: flags)
    }

    public var hasAVX512: Bool { ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) }
    public var hasAVX2FMA: Bool { flags.contains("avx2") && flags.contains("fma") }

    /// The widest SIMD this processor offers, as people name it.
    public var simd: String {
        if hasAVX512 { return flags.contains("avx512_bf16") ? "AVX-512 (with BF16)" : "AVX-512" }
        if hasAVX2FMA { return "AVX2 + FMA" }
        if flags.contains("avx") { return "AVX" }
        if flags.contains("asimd") { return "NEON (ASIMD)" }
        if flags.contains("sse4_2") { return "SSE4.2" }
        return "SSE2"
    }

    /// "AMD EPYC (family 25, model 17): AVX-512 (with BF16)".
    public var summary: String {
        var s = modelName
        if let family, let model { s += " (family \(family), model \(model))" }
        return s + ": " + simd
    }
}

/// The OpenBLAS kernel set ("core") in use, and the choice of a better one.
public enum BLASCore {
    /// The core OpenBLAS selected in this process ("Haswell", "SkylakeX", "Prescott", …).
    public static var name: String { String(cString: openblas_get_corename()) }
    /// OpenBLAS's build description ("OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64").
    public static var configuration: String { String(cString: openblas_get_config()).trimmingCharacters(in: .whitespaces) }

    /// How capable an x86-64 core's sgemm is (higher is faster on a CPU that has its features).
    static func rank(_ core: String) -> Int {
        switch core.lowercased() {
        case "cooperlake", "sapphirerapids": return 5
        case "skylakex": return 4
        case "haswell", "zen", "excavator", "steamroller", "piledriver": return 3
        case "sandybridge", "bulldozer": return 2
        default: return 1   // Prescott, Core2, Nehalem, Atom, Barcelona, … (SSE kernels)
        }
    }

    /// The best core of Debian's OpenBLAS 0.3.x for these CPU features, or nil when there is no
    /// better choice than the generic kernels (a CPU without AVX2) or on Arm.
    public static func best(for cpu: CPUInfo) -> String? {
        if cpu.hasAVX512 { return cpu.flags.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX" }
        if cpu.hasAVX2FMA { return cpu.vendor == "AuthenticAMD" || cpu.vendor == "HygonGenuine" ? "Zen" : "Haswell" }
        return nil
    }

    /// What to do about the core: keep it (the user chose, or it is already the best) or switch.
    public enum Choice: Equatable, Sendable {
        case keep(reason: String)
        case switchTo(String)
    }

    /// Whether to set OPENBLAS_CORETYPE to a better core than `current` for `cpu`. A value the user
    /// set (in `environment`) is always respected.
    public static func choice(current: String, cpu: CPUInfo, environment: [String: String]) -> Choice {
        if let set = environment["OPENBLAS_CORETYPE"] { return .keep(reason: "OPENBLAS_CORETYPE=\(set) set in the environment") }
        guard let best = best(for: cpu) else { return .keep(reason: "no faster OpenBLAS core for \(cpu.simd)") }
        if rank(best) > rank(current) { return .switchTo(best) }
        return .keep(reason: "selected by OpenBLAS")
    }

    /// Environment variable marking a process that idpo already re-executed with a chosen core.
    public static let reexecMarker = "IDPO_OPENBLAS_CORE_CHOSEN"

    /// One line for `idpo --version` and `idpo bench`: CPU, SIMD, OpenBLAS core and why, threads.
    public static func describe(threads: Int) -> String {
        let env = ProcessInfo.processInfo.environment
        let how: String
        if let chosen = env[reexecMarker] { how = "chosen by idpo for this CPU (OpenBLAS alone picked \(chosen))" }
        else if let set = env["OPENBLAS_CORETYPE"] { how = "OPENBLAS_CORETYPE=\(set) from the environment" }
        else { how = "selected by OpenBLAS" }
        return "CPU: \(CPUInfo.current.summary); OpenBLAS core \(name) (\(how)); \(threads) thread(s)"
    }
}
