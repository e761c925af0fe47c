// swift-tools-version:6.0
// idpo — iterative (online) DPO for Llama-family models on the CPU.
// Module graph (one-way; `make test` builds with the explicit target-dependency import check):
//   CSIMD → Support (atomic files, file reads, run lock, RNG, JSON, SHA-256, HTML escaping)
//   CBLAS + CSIMD → Kernels → Llama (+ Support) → {Generation, Preference, Optimization}
//   CHDF5 + Support + Llama → Checkpoints;  Support → ChatTemplates;  Tokenizers (leaf)
//   all of them → Pipeline → Demo (the sorting world, registering its oracle)
//   the measured modules → Benchmarks (`idpo bench`, `idpo tokenize --benchmark`; no test depends on it)
//   all of them → idpo (the thin executable)
import PackageDescription

/// Numeric kernels: ordinary -O with bounds checks on — `-Ounchecked` measured no faster
/// (BENCHMARKS.md, "Build settings") — and no -target-cpu: the vector code lives in CSIMD, compiled
/// for AVX-512, AVX2 + FMA and the x86-64 baseline and chosen at run time, so one binary runs on
/// any x86-64 (or arm64) CPU.
let kernelSettings: [SwiftSetting] = [.unsafeFlags(["-O"])]
/// Code that reads files a user (or an attacker) hands us: ordinary -O, bounds checks on, even in
/// debug builds (so the test suite runs the parsers at speed).
let parserSettings: [SwiftSetting] = [.unsafeFlags(["-O"])]

let package = Package(
    name: "idpo",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "idpo", targets: ["idpo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        .target(name: "Support", dependencies: ["CSIMD"], swiftSettings: parserSettings),
        .target(name: "CSIMD", cSettings: [.unsafeFlags(["-O2", "-Wno-psabi"])]),
        .target(name: "Kernels", dependencies: ["CBLAS", "CSIMD"], swiftSettings: kernelSettings),
        .target(name: "Llama", dependencies: ["Kernels", "Support"], swiftSettings: kernelSettings),
        .target(name: "Checkpoints", dependencies: ["Llama", "CHDF5", "Support"], swiftSettings: parserSettings),
        .target(name: "ChatTemplates", dependencies: ["Support"], swiftSettings: parserSettings),
        .target(name: "Generation", dependencies: ["Llama", "Kernels", "Support"], swiftSettings: kernelSettings),
        .target(name: "Preference", dependencies: ["Llama", "Kernels", "Support"], swiftSettings: kernelSettings),
        .target(name: "Optimization", dependencies: ["Llama", "Kernels", "Support"], swiftSettings: kernelSettings),
        .target(name: "Pipeline", dependencies: ["Llama", "Checkpoints", "Generation", "Preference", "Optimization",
                                                 "Tokenizers", "ChatTemplates", "Support",
                                                 .product(name: "Yams", package: "Yams")], swiftSettings: parserSettings),
        .target(name: "Tokenizers", swiftSettings: parserSettings),
        .target(name: "Demo", dependencies: ["Pipeline", "Llama", "Checkpoints", "Generation", "Support"], swiftSettings: parserSettings),
        // kernelSettings: the benchmarks' own loops (decode's greedy argmax) run inside the timed region.
        .target(name: "Benchmarks", dependencies: ["CSIMD", "Kernels", "Llama", "Generation", "Preference", "Optimization",
                                                   "Tokenizers", "Pipeline", "Support"], swiftSettings: kernelSettings),
        .executableTarget(name: "idpo", dependencies: [
            "Kernels", "Llama", "Checkpoints", "Tokenizers", "ChatTemplates", "Generation", "Preference", "Optimization", "Pipeline",
            "Support", "Demo", "Benchmarks",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: parserSettings),
        .target(name: "TestSupport", dependencies: ["Kernels", "Llama", "Checkpoints", "Support"],
                path: "Tests/TestSupport"),
        .testTarget(name: "SupportTests", dependencies: ["Support"]),
        .testTarget(name: "CLITests", dependencies: ["idpo", "Kernels", "Checkpoints", "TestSupport"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "LlamaTests", dependencies: ["Llama", "Checkpoints", "TestSupport"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "Llama", "Tokenizers", "Support", "TestSupport"]),
        .testTarget(name: "GenerationTests", dependencies: ["Generation", "Llama", "Checkpoints", "Support", "TestSupport"]),
        .testTarget(name: "PreferenceTests", dependencies: ["Preference", "Llama", "Checkpoints", "Support", "TestSupport"]),
        .testTarget(name: "OptimizationTests", dependencies: ["Optimization", "Llama", "Checkpoints", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Llama", "Support", "TestSupport"]),
        .testTarget(name: "DemoTests", dependencies: ["Demo", "Pipeline", "Support", "TestSupport"]),
        .testTarget(name: "ChatTemplatesTests", dependencies: ["ChatTemplates", "TestSupport"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "ChatTemplates", "Support", "TestSupport"]),
        .testTarget(name: "RealModelTests", dependencies: ["Pipeline", "Optimization", "Generation", "Preference", "Checkpoints",
                                                        "Llama", "Kernels", "Tokenizers", "Support", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
