// `idpo convert`: between a Hugging Face model directory (safetensors) and idpo's HDF5 layout.

import ArgumentParser
import Foundation
import Checkpoints

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a model directory between Hugging Face safetensors and idpo's HDF5 checkpoint.",
        discussion: """
        A model directory holds config.json, tokenizer files and weights (model.safetensors, sharded
        safetensors with model.safetensors.index.json, or model.h5). The tokenizer files are copied.
        Converting HF → idpo → HF reproduces the weights bit for bit (F32), and the exported directory
        loads in transformers (LlamaForCausalLM.from_pretrained) and vLLM.

        Examples:
          idpo convert --from ~/models/SmolLM2-135M-Instruct --to runs/smol-idpo
          idpo convert --from runs/demo/iter-3/policy --to exported --format hf --dtype bf16
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case hf, idpo }
    enum DType: String, ExpressibleByArgument, CaseIterable { case f32, bf16 }

    @Option(name: .customLong("from"), help: "Source model directory.")
    var source: String

    @Option(name: .customLong("to"), help: "Destination directory (created; weight files in it are replaced).")
    var destination: String

    @Option(help: "Destination format: hf (config.json + model.safetensors) or idpo (config.json + model.h5). Default: the other one.")
    var format: Format?

    @Option(help: "Weight type for --format hf: f32 or bf16.")
    var dtype: DType = .f32

    func validate() throws {
        if format == .idpo && dtype != .f32 { throw ValidationError("--dtype applies to --format hf only (idpo checkpoints are float32)") }
        let from = URL(fileURLWithPath: source).standardizedFileURL.resolvingSymlinksInPath()
        let to = URL(fileURLWithPath: destination).standardizedFileURL.resolvingSymlinksInPath()
        if from.path == to.path {
            throw ValidationError("--to names the same directory as --from (\(from.path)); converting in place would replace the source's weights — choose another destination")
        }
    }

    func run() throws {
        let from = URL(fileURLWithPath: source), to = URL(fileURLWithPath: destination)
        let sourceFormat = try ModelDirectory.weightsFormat(from)
        let target = format ?? (sourceFormat == .hdf5 ? .hf : .idpo)
        switch target {
        case .hf:
            let model = try ModelDirectory.load(from)
            try ModelDirectory.saveHuggingFace(model, to: to, dtype: dtype == .bf16 ? .bf16 : .f32, tokenizerSource: from)
        case .idpo:
            // Keep optimizer/RNG state when the source is already an idpo checkpoint.
            let checkpoint = sourceFormat == .hdf5 ? try ModelDirectory.loadCheckpoint(from)
                                                   : NativeCheckpoint(model: try ModelDirectory.load(from))
            try ModelDirectory.saveNative(checkpoint, to: to, tokenizerSource: from)
        }
        print("wrote \(target == .hf ? "Hugging Face (\(dtype.rawValue))" : "idpo HDF5") model directory \(to.path)")
    }
}
