// swift-tools-version:6.0
// idpo — iterative (online) DPO for Llama-family models on the CPU.
// Module graph (one-way): CBLAS → Kernels → Llama → Checkpoints → idpo; CHDF5 → Checkpoints;
// ChatTemplates → Tokenizers → idpo.
import PackageDescription

let optimized: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"])]

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
        .target(name: "Kernels", dependencies: ["CBLAS"], swiftSettings: optimized),
        .target(name: "Llama", dependencies: ["Kernels"], swiftSettings: optimized),
        .target(name: "Checkpoints", dependencies: ["Llama", "CHDF5"]),
        .target(name: "ChatTemplates", swiftSettings: optimized),
        .target(name: "Generation", dependencies: ["Llama", "Kernels"], swiftSettings: optimized),
        .target(name: "Preference", dependencies: ["Llama", "Kernels"], swiftSettings: optimized),
        .target(name: "Optimization", dependencies: ["Llama", "Kernels", "Checkpoints"], swiftSettings: optimized),
        .target(name: "Pipeline", dependencies: ["Llama", "Checkpoints", "Generation", "Preference", "Optimization",
                                                 "Tokenizers", "ChatTemplates",
                                                 .product(name: "Yams", package: "Yams")]),
        .target(name: "Tokenizers", dependencies: ["ChatTemplates"], swiftSettings: optimized),
        .executableTarget(name: "idpo", dependencies: [
            "Kernels", "Llama", "Checkpoints", "Tokenizers", "ChatTemplates", "Generation", "Preference", "Optimization", "Pipeline",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: optimized),
        .target(name: "TestSupport", dependencies: ["Kernels", "Llama", "Checkpoints"],
                path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "LlamaTests", dependencies: ["Llama", "Checkpoints", "TestSupport"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "Llama", "TestSupport"]),
        .testTarget(name: "GenerationTests", dependencies: ["Generation", "Llama", "Checkpoints", "TestSupport"]),
        .testTarget(name: "PreferenceTests", dependencies: ["Preference", "Llama", "Checkpoints", "TestSupport"]),
        .testTarget(name: "OptimizationTests", dependencies: ["Optimization", "Llama", "Checkpoints", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "TestSupport"]),
        .testTarget(name: "ChatTemplatesTests", dependencies: ["ChatTemplates", "TestSupport"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "ChatTemplates", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
