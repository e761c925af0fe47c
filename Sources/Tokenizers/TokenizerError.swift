// Errors thrown while loading a tokenizer: each names the file and, where one is at fault, the JSON
// field (as a path such as `pre_tokenizer.pretokenizers[0].pattern.Regex`).

import Foundation

/// Why a tokenizer could not be loaded. Loading never traps on bad input; it throws one of these.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The path does not exist, or a model directory holds no `tokenizer.json`.
    case fileNotFound(path: String)
    /// The file could not be read.
    case unreadable(path: String, reason: String)
    /// The file is not valid JSON (or not valid UTF-8).
    case invalidJSON(file: String, line: Int, column: Int, message: String)
    /// A field is missing or has the wrong type or an impossible value.
    case invalidField(file: String, field: String, message: String)
    /// A field names a component or option this implementation does not support.
    case unsupported(file: String, field: String, message: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "\(path): not found (expected a tokenizer.json file or a model directory containing one)"
        case .unreadable(let path, let reason):
            return "\(path): cannot be read: \(reason)"
        case .invalidJSON(let file, let line, let column, let message):
            return "\(file):\(line):\(column): invalid JSON: \(message)"
        case .invalidField(let file, let field, let message):
            return "\(file): field '\(field)': \(message)"
        case .unsupported(let file, let field, let message):
            return "\(file): field '\(field)': unsupported: \(message)"
        }
    }

    /// The JSON field the error is about, when there is one.
    public var field: String? {
        switch self {
        case .invalidField(_, let field, _), .unsupported(_, let field, _): return field
        default: return nil
        }
    }
}

extension TokenizerError: LocalizedError {
    public var errorDescription: String? { description }
}
