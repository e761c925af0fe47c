// OpenBLAS core selection at run time: the decision for known CPUs, and the executable re-running
// itself with the better core when OpenBLAS fell back to generic kernels (simulated), while a value
// the user set is respected.

import Foundation
import XCTest
import Kernels
import TestSupport

final class DoctorTests: XCTestCase {
    let xeon = CPUInfo(modelName: "Intel Xeon", vendor: "GenuineIntel", family: 6, model: 207,
                       flags: ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16"])
    let zen3 = CPUInfo(modelName: "AMD EPYC 7763", vendor: "AuthenticAMD", flags: ["sse4_2", "avx", "avx2", "fma"])
    let old = CPUInfo(modelName: "Old", vendor: "GenuineIntel", flags: ["sse4_2"])

    func testDecisions() {
        XCTAssertEqual(BLASCore.choice(current: "Prescott", cpu: xeon, environment: [:]), .switchTo("Cooperlake"))
        XCTAssertEqual(BLASCore.choice(current: "Haswell", cpu: xeon, environment: [:]), .switchTo("Cooperlake"))
        XCTAssertEqual(BLASCore.choice(current: "Cooperlake", cpu: xeon, environment: [:]), .keep(reason: "selected by OpenBLAS"))
        XCTAssertEqual(BLASCore.choice(current: "Prescott", cpu: xeon, environment: ["OPENBLAS_CORETYPE": "Haswell"]),
                       .keep(reason: "OPENBLAS_CORETYPE=Haswell set in the environment"))
        XCTAssertEqual(BLASCore.choice(current: "Prescott", cpu: zen3, environment: [:]), .switchTo("Zen"))
        XCTAssertEqual(BLASCore.choice(current: "Zen", cpu: zen3, environment: [:]), .keep(reason: "selected by OpenBLAS"))
        if case .switchTo = BLASCore.choice(current: "Prescott", cpu: old, environment: [:]) { XCTFail("no better core without AVX2") }
    }

    func testCPUInfoParsing() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\nmodel name\t: Intel(R) Xeon(R)\nflags\t\t: fpu sse4_2 avx2 fma avx512f avx512bw avx512dq avx512vl\n\nprocessor\t: 1\nmodel name\t: other\n"
        let cpu = CPUInfo.read(cpuinfo: text)
        XCTAssertEqual(cpu.modelName, "Intel(R) Xeon(R)")
        XCTAssertEqual(cpu.model, 207)
        XCTAssertTrue(cpu.hasAVX512)
        XCTAssertEqual(cpu.simd, "AVX-512")
        XCTAssertFalse(CPUInfo.current.flags.isEmpty, "this machine's /proc/cpuinfo has flags")
    }

    /// OpenBLAS's pick is pretended to be Prescott: idpo restarts itself with the best core for this
    /// CPU and says so; with OPENBLAS_CORETYPE set by the user nothing changes.
    func testExecutableRestartsWithTheBetterCore() throws {
        guard let best = BLASCore.best(for: CPUInfo.current) else { throw XCTSkip("no better OpenBLAS core for \(CPUInfo.current.simd)") }
        let folder = FileManager.default.temporaryDirectory
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = nil
        env["IDPO_PRETEND_OPENBLAS_CORE"] = "Prescott"
        let switched = try Harness.run(["doctor"], timeLimit: 30, in: folder, environment: env)
        XCTAssertEqual(switched.status, 0, switched.output)
        XCTAssertTrue(switched.output.contains("OpenBLAS core \(best) (chosen by idpo for this CPU (OpenBLAS alone picked Prescott))"), switched.output)
        env["OPENBLAS_CORETYPE"] = "Haswell"
        let respected = try Harness.run(["doctor"], timeLimit: 30, in: folder, environment: env)
        XCTAssertTrue(respected.output.contains("OpenBLAS core Haswell (OPENBLAS_CORETYPE=Haswell from the environment)"), respected.output)
        XCTAssertTrue(respected.output.contains("row tile: 12"), "the batch-invariance tile is probed after the choice: \(respected.output)")
    }
}

final class InspectTests: XCTestCase {
    /// `idpo inspect` reads headers only and prints the architecture, dtypes and a plan per stage.
    func testInspectPrintsArchitectureDtypesAndPlans() throws {
        let dir = try TinyModels.temporaryDirectory("inspect")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TinyModels.make(at: dir.appendingPathComponent("m"), seed: 1)
        let out = try Harness.run(["inspect", dir.appendingPathComponent("m").path, "--k", "4"], timeLimit: 30, in: dir)
        XCTAssertEqual(out.status, 0, out.output)
        for expected in ["hidden 64, 2 layers, 4 heads / 2 KV heads", "dtypes F32 ×", "model.safetensors", "generate (k = 4",
                         "judge (pairwise", "train (full fine-tune", "fits"] {
            XCTAssertTrue(out.output.contains(expected), "missing '\(expected)' in:\n\(out.output)")
        }
        let bad = try Harness.run(["inspect", dir.appendingPathComponent("m").path, "--k", "0"], timeLimit: 30, in: dir)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.output.contains("--k"), bad.output)
    }
}
