// `idpo convert`: between a Hugging Face model directory (safetensors), idpo's HDF5 layout and
// llama.cpp's GGUF (read: dequantized exactly; written: F32, F16, BF16 or Q8_0).

import ArgumentParser
import Foundation
import Checkpoints
import Llama

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a model between Hugging Face safetensors, idpo's HDF5 checkpoint and GGUF.",
        discussion: """
        A model directory holds config.json, tokenizer files and weights (model.safetensors, sharded safetensors with model.safetensors.index.json, or model.h5). The tokenizer files are copied. Converting HF → idpo → HF reproduces the weights bit for bit (F32), and the exported directory loads in transformers (LlamaForCausalLM.from_pretrained) and vLLM. Without --dtype, --format hf keeps the source's type when all its tensors are BF16 (or all F16), else writes f32.

        --from may also name a GGUF file (llama.cpp; architecture llama; tensors F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K or Q6_K). Its weights are dequantized exactly as llama.cpp does and un-permuted to Hugging Face's layout, its tokenizer (byte-level BPE) becomes tokenizer.json and tokenizer_config.json. Without --dtype, a GGUF whose matrices are all F16 (or all BF16) is written in that type, anything else (quantized or mixed) as f32: dequantized values are not representable in 16 bits, and f32 keeps them exact.

        --format gguf writes one GGUF file (--to names the file) that llama.cpp and gguf-py read: llama.* metadata, llama.cpp's tensor names with q/k rows permuted for its RoPE, norms in F32, matrices in --dtype f32, f16, bf16 or q8_0 (default f32; Q8_0 rounded exactly as llama.cpp's reference quantizer), and the tokenizer (byte-level BPE whose pre-tokenizer llama.cpp names: SmolLM2, Llama 3, GPT-2) with its chat template. Models with rope_scaling are refused.

        Examples:
          idpo convert --from ~/models/SmolLM2-135M-Instruct --to runs/smol-idpo
          idpo convert --from runs/demo/iter-3/policy --to exported \\
                       --format hf --dtype bf16
          idpo convert --from SmolLM2-135M-Instruct.Q4_1.gguf --to runs/smol-hf \\
                       --format hf
          idpo convert --from runs/demo/iter-3/policy --to policy-q8.gguf \\
                       --format gguf --dtype q8_0

        --merge-lora takes a LoRA adapter directory (PEFT's adapter_config.json + adapter_model.safetensors, as `idpo iterate` with training.lora writes π(t)) and writes its base with W + (alpha/r)·B·A merged into every adapted projection, as PEFT's merge_and_unload: a plain model for vLLM, SGLang or transformers. Without --dtype, the base's own type is kept when all its tensors are BF16 (or all F16).
          idpo convert --from runs/lora/iter-2/policy --merge-lora \\
                       --to merged --dtype bf16
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case hf, idpo, gguf }
    enum DType: String, ExpressibleByArgument, CaseIterable { case f32, f16, bf16, q8_0 }

    @Option(name: .customLong("from"), help: "Source model directory, or a GGUF file.")
    var source: String

    @Option(name: .customLong("to"), help: "Destination directory (created; weight files in it are replaced).")
    var destination: String

    @Option(help: "Destination format: hf (config.json + model.safetensors), idpo (config.json + model.h5) or gguf (one file). Default: hf from idpo or GGUF, else idpo.")
    var format: Format?

    @Option(help: "Weight type: f32, f16 or bf16 for --format hf (default: the source's own type when all its tensors are BF16 or all F16 — for a GGUF file, all its matrices — else f32); f32, f16, bf16 or q8_0 for --format gguf (default f32).")
    var dtype: DType?

    @Flag(name: .customLong("merge-lora"), help: "--from is a LoRA adapter directory: write its base with the adapter merged (W + s·B·A).")
    var mergeLoRA = false

    func validate() throws {
        let adapter = AdapterDirectory.isAdapter(URL(fileURLWithPath: source))
        if adapter && !mergeLoRA {
            throw ValidationError("--from \(source) is a LoRA adapter directory (adapter_config.json); add --merge-lora to write its base with the adapter merged in")
        }
        if mergeLoRA && !adapter { throw ValidationError("--merge-lora needs --from to name a LoRA adapter directory (adapter_config.json + adapter_model.safetensors)") }
        if format == .idpo, let dtype, dtype != .f32 { throw ValidationError("--dtype applies to --format hf and gguf only (idpo checkpoints are float32)") }
        if format != .gguf && dtype == .q8_0 { throw ValidationError("--dtype q8_0 applies to --format gguf only (safetensors files here hold f32, f16 or bf16)") }
        let from = URL(fileURLWithPath: source).standardizedFileURL.resolvingSymlinksInPath()
        let to = URL(fileURLWithPath: destination).standardizedFileURL.resolvingSymlinksInPath()
        if from.path == to.path {
            throw ValidationError("--to names the same directory as --from (\(from.path)); converting in place would replace the source's weights — choose another destination")
        }
    }

    func run() throws {
        let from = URL(fileURLWithPath: source), to = URL(fileURLWithPath: destination)
        let base = mergeLoRA ? try AdapterDirectory.baseDirectory(of: from) : from
        let sourceFormat = try ModelDirectory.weightsFormat(base)
        /// The source's weights in float32: with --merge-lora its base with the adapter merged in.
        func loadModel() throws -> LlamaModel {
            guard mergeLoRA else { return try ModelDirectory.load(from) }
            let model = try ModelDirectory.load(base)
            let adapter = try AdapterDirectory.read(from, for: model.config)
            AdapterDirectory.merge(adapter, into: model)
            print("merged LoRA adapter \(from.path) (r \(adapter.config.r), scale \(adapter.scale), \(adapter.config.targetModules.map(\.rawValue).joined(separator: ", "))) into \(base.path)")
            return model
        }
        // An adapter made elsewhere may come without tokenizer files: then the base's.
        let tokenizerSource = FileManager.default.fileExists(atPath: from.appendingPathComponent("tokenizer.json").path) || !mergeLoRA ? from : base
        let target = format ?? (mergeLoRA || sourceFormat == .hdf5 || sourceFormat == .gguf ? .hf : .idpo)
        var written = dtype ?? .f32
        switch target {
        case .hf:
            if dtype == nil && sourceFormat == .gguf { written = try Self.naturalType(of: GGUFFile(url: from)) }
            if dtype == nil && (sourceFormat == .safetensors || sourceFormat == .shardedSafetensors) {
                // the input's own type when every tensor is BF16 (or every one F16), as π(t) is saved
                let dtypes = Set(try ModelDirectory.describe(from).dtypes.keys)
                written = dtypes == ["BF16"] ? .bf16 : dtypes == ["F16"] ? .f16 : .f32
            }
            let model = try loadModel()
            let types: [DType: SafetensorsWriter.DType] = [.f32: .f32, .f16: .f16, .bf16: .bf16]
            try ModelDirectory.saveHuggingFace(model, to: to, dtype: types[written]!, tokenizerSource: tokenizerSource)
        case .idpo:
            // Keep optimizer/RNG state when the source is already an idpo checkpoint.
            let checkpoint = sourceFormat == .hdf5 && !mergeLoRA ? try ModelDirectory.loadCheckpoint(from)
                                                                 : NativeCheckpoint(model: try loadModel())
            try ModelDirectory.saveNative(checkpoint, to: to, tokenizerSource: tokenizerSource)
        case .gguf:
            let model = try loadModel()
            let tokenizer = try GGUFTokenizerExport.from(tokenizerSource)
            if tokenizer == nil { FileHandle.standardError.write(Data("warning: \(from.path) has no tokenizer.json; the GGUF file holds no tokenizer\n".utf8)) }
            let name = sourceFormat == .gguf ? from.deletingPathExtension().lastPathComponent : from.standardizedFileURL.lastPathComponent
            try GGUFWriter.llama(model, weights: GGUFWriter.WeightType(rawValue: written.rawValue)!, name: name, tokenizer: tokenizer).write(to: to)
            print("wrote GGUF (\(written.rawValue)) file \(to.path)")
            return
        }
        print("wrote \(target == .hf ? "Hugging Face (\(written.rawValue))" : "idpo HDF5") model directory \(to.path)")
    }

    /// The safetensors type that holds a GGUF file's weights exactly: F16 or BF16 when every matrix
    /// is stored so and every F32 tensor (llama.cpp keeps norms in F32) holds values of that type
    /// too; else f32.
    static func naturalType(of file: GGUFFile) throws -> DType {
        let matrices = Set(file.tensors.values.filter { $0.dimensions.count >= 2 }.map(\.type))
        let candidate: DType
        if matrices == [.f16] { candidate = .f16 } else if matrices == [.bf16] { candidate = .bf16 } else { return .f32 }
        for info in file.tensors.values where info.type == .f32 {
            for x in try file.floats(info.name) {
                let exact = candidate == .f16 ? Float(Float16(x)) == x : x.bitPattern & 0xFFFF == 0
                if !exact { return .f32 }
            }
        }
        return candidate
    }
}
