// `idpo tokenize`: encode text from stdin to token ids with a model directory's tokenizer, or decode ids.

import ArgumentParser
import Foundation
import Tokenizers
import Benchmarks

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode text from standard input to token ids, or decode ids back to text.",
        discussion: """
        The tokenizer is read from the model directory's tokenizer.json (byte-level BPE: the Llama 3, GPT-2 / SmolLM2 and Qwen2 families; SentencePiece-style BPE with byte fallback: Llama 2, Mistral, TinyLlama), with tokenizer_config.json beside it for the BOS and EOS tokens. Encoding equals the Hugging Face tokenizers library (and tiktoken for Llama 3, SentencePiece for Llama 2). Special-token strings in the text (such as <|eot_id|>) become their ids unless --no-parse-special is given.

        Standard input is read whole and encoded as one text, newlines included (or line by line with --lines), and the ids are printed separated by spaces. With --decode, standard input holds ids separated by spaces, commas or newlines, and their text is written exactly, with no newline added, so that encoding and decoding reproduce the input.

        Examples:
          echo "Hi there" | idpo tokenize --model ~/models/Llama-3.2-1B --special
          echo "Hello" | idpo tokenize --model M | idpo tokenize --model M --decode
          idpo tokenize --model M --show-pieces < prompt.txt
          echo "128000 9906 11 1917" | idpo tokenize --model M --decode --skip-special
          idpo tokenize --model M --benchmark < corpus.txt
        """)

    @Option(help: "Model directory, a tokenizer.json file, or a GGUF file (its tokenizer.ggml.* metadata).")
    var model: String

    @Flag(help: "Decode: read token ids from standard input and print their text.")
    var decode = false

    @Flag(help: "Add the special tokens the tokenizer puts around a sequence (the BOS token for Llama 3).")
    var special = false

    @Flag(help: "Treat special-token strings in the text as ordinary text.")
    var noParseSpecial = false

    @Flag(help: "With --decode: leave special tokens (BOS, EOS, chat markers) out of the text.")
    var skipSpecial = false

    @Flag(help: "Print one token per line: id, vocabulary spelling and the text it stands for.")
    var showPieces = false

    @Flag(help: "Encode each input line separately and print one line of ids per input line.")
    var lines = false

    @Flag(help: "Measure encoding speed on the input (one thread, about two seconds) and print MB/s.")
    var benchmark = false

    func validate() throws {
        if decode && (special || noParseSpecial || lines || benchmark) {
            throw ValidationError("--decode does not combine with --special, --no-parse-special, --lines or --benchmark")
        }
        if skipSpecial && !decode { throw ValidationError("--skip-special applies to --decode") }
    }

    func run() throws {
        let tokenizer = try Tokenizer(model: URL(fileURLWithPath: model))
        let input = FileHandle.standardInput.readDataToEndOfFile()
        if decode {
            let ids = try parseIds(input)
            if showPieces {
                for id in ids { printPiece(id, tokenizer) }
            } else {
                writeOut(try tokenizer.decode(ids, skipSpecialTokens: skipSpecial))
            }
            return
        }
        // strict UTF-8 that keeps a leading U+FEFF (Foundation's String(data:encoding:) drops it)
        guard let text = String(validating: input, as: UTF8.self) else {
            throw TokenizeInputError(message: "standard input is not valid UTF-8")
        }
        if benchmark {
            let start = Date()
            let count = try tokenizer.encode(text, parseSpecialTokens: !noParseSpecial).count
            let first = Date().timeIntervalSince(start)
            let speed = try TokenizerBenchmark.megabytesPerSecond(tokenizer: tokenizer, text: text, seconds: 2)
            print(String(format: "%d bytes → %d tokens (%.2f bytes/token); first encode %.1f ms; %.1f MB/s on one thread",
                         text.utf8.count, count, Double(text.utf8.count) / Double(max(count, 1)), first * 1000, speed))
            return
        }
        let texts = lines ? text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) : [text]
        var output = ""
        for (k, t) in texts.enumerated() {
            if lines && k == texts.count - 1 && t.isEmpty { break }   // the newline that ends the input
            let ids = try tokenizer.encode(t, addSpecialTokens: special, parseSpecialTokens: !noParseSpecial)
            if showPieces {
                for id in ids { printPiece(id, tokenizer) }
                if lines { print("") }
            } else {
                output += ids.map(String.init).joined(separator: " ") + "\n"
            }
        }
        writeOut(output)
    }

    private func parseIds(_ data: Data) throws -> [Int32] {
        let text = String(decoding: data, as: UTF8.self)
        var ids: [Int32] = []
        for field in text.split(whereSeparator: { $0 == " " || $0 == "," || $0.isNewline || $0 == "\t" || $0 == "[" || $0 == "]" }) {
            guard let id = Int32(field) else { throw TokenizeInputError(message: "'\(field)' in standard input is not a token id") }
            ids.append(id)
        }
        return ids
    }

    private func printPiece(_ id: Int32, _ tokenizer: Tokenizer) {
        guard let spelling = tokenizer.token(for: id) else {
            print("\(id)\t(unknown id)")
            return
        }
        let bytes = tokenizer.bytes(of: id) ?? []
        let marker = tokenizer.isSpecial(id) ? "\tspecial" : ""
        print("\(id)\t\(spelling)\t\(Tokenize.quoted(bytes))\(marker)")
    }

    /// The bytes as a quoted string: printable text as is, escapes for control characters, quotes and
    /// bytes that are not complete UTF-8 (\xNN).
    static func quoted(_ bytes: [UInt8]) -> String {
        var out = "\""
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            let length: Int
            switch b {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: length = 0
            }
            if length > 1, i + length <= bytes.count,
               let s = String(bytes: bytes[i..<(i + length)], encoding: .utf8) {
                out += s
                i += length
                continue
            }
            switch b {
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x20...0x7E: out += String(UnicodeScalar(b))
            default: out += String(format: "\\x%02X", b)
            }
            i += 1
        }
        return out + "\""
    }

    private func writeOut(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// Bad data on standard input (reported without the usage text).
struct TokenizeInputError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
