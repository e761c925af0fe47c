// The one error type of recipe loading: where (file, line, column, key path), what, and how to fix it.

import Foundation

/// A recipe problem found before any work starts.
///
/// Printed as `recipes/x.yaml:12:9: training.beta must be > 0 (got -0.1)` followed by an indented
/// `hint:` line when there is one. Line and column are 1-based and point at the offending value
/// (or key, for unknown and duplicate keys); they are nil only for file-level problems (unreadable
/// or empty file).
public struct RecipeError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The recipe file as the user named it (relative paths stay relative).
    public var file: String
    public var line: Int?
    public var column: Int?
    /// Dotted key path of the offending entry (`training.beta`, `prompts.files[1]`), nil for the whole file.
    public var keyPath: String?
    /// One sentence saying what is wrong.
    public var message: String
    /// How to fix it, when there is something useful to say.
    public var hint: String?

    public init(file: String, line: Int? = nil, column: Int? = nil, keyPath: String? = nil,
                message: String, hint: String? = nil) {
        self.file = file; self.line = line; self.column = column
        self.keyPath = keyPath; self.message = message; self.hint = hint
    }

    /// `file:line:column: message` (the location parts that are known), then `  hint: …`.
    public var description: String {
        var text = file
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        text += ": " + message
        if let hint { text += "\n  hint: " + hint }
        return text
    }
}
