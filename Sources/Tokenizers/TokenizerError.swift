// Errors thrown while loading or using a tokenizer: each names the file and, where one is at fault,
// the JSON field (as a path such as `pre_tokenizer.pretokenizers[0].pattern.Regex`).

import Foundation

/// Why a tokenizer could not be loaded, or could not encode or decode. Loading, encoding and decoding
/// never trap on bad input; they throw one of these.
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
    /// Encoding: a pre-tokenizer split regex (`field`) needed more backtracking on an input of
    /// `inputLength` characters than its budget allows (`budget` says which budget, in words) — a
    /// pattern with nested quantifiers such as `(a+)+$` backtracks exponentially.
    case regexBudgetExceeded(file: String, field: String, pattern: String, inputLength: Int, budget: String)
    /// Decoding: `ids[position]` is `id`, which is no token of the vocabulary (below `vocabularySize`
    /// every id but an unassigned one is a token).
    case unknownTokenId(file: String, id: Int32, position: Int, vocabularySize: Int)

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
        case .regexBudgetExceeded(let file, let field, let pattern, let inputLength, let budget):
            return "\(file): field '\(field)': the pre-tokenizer regex \(pattern) exceeded \(budget) on a "
                + "\(inputLength)-character input (nested quantifiers such as (a+)+ backtrack exponentially)"
        case .unknownTokenId(let file, let id, let position, let vocabularySize):
            return "\(file): cannot decode id \(id) at position \(position): it is no token of the vocabulary "
                + "(\(vocabularySize) ids, 0..<\(vocabularySize))"
        }
    }

    /// The JSON field the error is about, when there is one.
    public var field: String? {
        switch self {
        case .invalidField(_, let field, _), .unsupported(_, let field, _), .regexBudgetExceeded(_, let field, _, _, _): return field
        default: return nil
        }
    }
}

extension TokenizerError: LocalizedError {
    public var errorDescription: String? { description }
}
