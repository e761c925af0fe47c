// The public entry point: a compiled chat template that renders conversations exactly as
// transformers' `tokenizer.apply_chat_template(messages, tokenize=False, …)` does.

/// One message of a conversation: a role, an optional text content, and any further keys a
/// template reads (`tool_calls`, `name`, …).
public struct ChatMessage: Sendable {
    public var role: String
    /// nil leaves the `content` key out (transformers drops keys whose value is None).
    public var content: String?
    /// Further keys, after `role` and `content`, in order.
    public var fields: TemplateDictionary

    public init(role: String, content: String?, fields: TemplateDictionary = TemplateDictionary()) {
        self.role = role
        self.content = content
        self.fields = fields
    }

    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: "system", content: content) }
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: "user", content: content) }
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: "assistant", content: content) }

    /// The message as the dictionary a template sees.
    public var templateValue: TemplateValue {
        var dictionary = TemplateDictionary()
        dictionary["role"] = .string(role)
        if let content { dictionary["content"] = .string(content) }
        for (key, value) in fields { dictionary[key] = value }
        return .dictionary(dictionary)
    }
}

/// A parsed chat template (a Jinja2 subset, sandboxed: no I/O, no imports, bounded loops and
/// recursion) that renders the way transformers does: `trim_blocks` and `lstrip_blocks` on, the
/// template's final newline dropped, its own `tojson`, `raise_exception` and `strftime_now`.
///
/// ```swift
/// let template = try ChatTemplate(source: tokenizerConfig.chatTemplate)
/// let prompt = try template.render(messages: [.system("Be brief."), .user("Hi!")],
///                                  addGenerationPrompt: true, bosToken: "<|begin_of_text|>")
/// ```
///
/// Parsing and rendering never trap: malformed templates, runtime errors and runaway templates
/// throw `TemplateError` with the template name and line:column.
public struct ChatTemplate: Sendable {
    /// The seed's plain pair-PM context template (REFERENCE.md §2). Note how transformers renders
    /// it: `"\n" + Σ ("\n<turn> user|assistant\n " + content) + "\n"`, roles ignored.
    public static let pairPMPlain =
        "\n{% for message in messages %}{% if loop.index0 % 2 == 0 %}\n\n<turn> user\n {{ message['content'] }}"
        + "{% else %}\n\n<turn> assistant\n {{ message['content'] }}{% endif %}{% endfor %}\n\n\n"

    /// The name used in error messages.
    public let name: String
    /// The template text as given.
    public let source: String
    /// Where `strftime_now` reads the time (the system clock unless replaced, e.g. in tests).
    public var clock: TemplateClock = .system
    /// Runaway guards.
    public var limits = TemplateLimits()

    private let program: Program

    /// Parses a template; throws a `.syntax` (or `.unsupported`) `TemplateError` when it is
    /// malformed: unclosed tags, bad expressions, unknown tags, filters or tests.
    public init(source: String, name: String = "chat_template") throws {
        self.name = name
        self.source = source
        let scalars = normalizedTemplateScalars(source)
        let locator = SourceLocator(name: name, scalars: scalars)
        var lexer = Lexer(scalars: scalars, locator: locator)
        var parser = Parser(tokens: try lexer.tokenize(), locator: locator)
        program = Program(root: try parser.parseTemplate(), locator: locator)
    }

    /// Renders with exactly the given variables (plain Jinja; nothing is added).
    public func render(context: [String: TemplateValue]) throws -> String {
        try Renderer(locator: program.locator, limits: limits, clock: clock, context: context).render(program.root)
    }

    /// Renders a conversation as `apply_chat_template(messages, tools=tools, add_generation_prompt=…,
    /// tokenize=False, **extra)` does for a tokenizer with these bos/eos tokens.
    ///
    /// - Parameters:
    ///   - messages: message dictionaries; keys whose value is `.none` are dropped, as transformers does.
    ///   - bosToken: `bos_token`; nil leaves it undefined (tokenizers without one, e.g. Qwen).
    ///   - eosToken: `eos_token`; nil leaves it undefined.
    ///   - tools: JSON-schema tool descriptions (`tools` is None when nil).
    ///   - extra: further variables (`date_string`, `builtin_tools`, `tools_in_user_message`, …);
    ///     they override the others.
    public func render(messages: [TemplateValue], addGenerationPrompt: Bool = false, bosToken: String? = nil,
                       eosToken: String? = nil, tools: [TemplateValue]? = nil,
                       extra: [String: TemplateValue] = [:]) throws -> String {
        var context: [String: TemplateValue] = [:]
        if let bosToken { context["bos_token"] = .string(bosToken) }
        if let eosToken { context["eos_token"] = .string(eosToken) }
        context["messages"] = .array(messages.map(Self.droppingNoneValues))
        context["tools"] = tools.map { .array($0) } ?? TemplateValue.none
        context["documents"] = TemplateValue.none
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        for (key, value) in extra { context[key] = value }
        return try render(context: context)
    }

    /// Renders `ChatMessage`s (see `render(messages:…)` for the parameters).
    public func render(messages: [ChatMessage], addGenerationPrompt: Bool = false, bosToken: String? = nil,
                       eosToken: String? = nil, tools: [TemplateValue]? = nil,
                       extra: [String: TemplateValue] = [:]) throws -> String {
        try render(messages: messages.map(\.templateValue), addGenerationPrompt: addGenerationPrompt,
                   bosToken: bosToken, eosToken: eosToken, tools: tools, extra: extra)
    }

    /// Renders a conversation given as (role, content) pairs.
    public func render(conversation: [(role: String, content: String)], addGenerationPrompt: Bool = false,
                       bosToken: String? = nil, eosToken: String? = nil,
                       extra: [String: TemplateValue] = [:]) throws -> String {
        try render(messages: conversation.map { ChatMessage(role: $0.role, content: $0.content) },
                   addGenerationPrompt: addGenerationPrompt, bosToken: bosToken, eosToken: eosToken, extra: extra)
    }

    private static func droppingNoneValues(_ message: TemplateValue) -> TemplateValue {
        guard case .dictionary(let d) = message, d.values.contains(where: \.isNone) else { return message }
        var kept = TemplateDictionary()
        for (key, value) in d where !value.isNone { kept[key] = value }
        return .dictionary(kept)
    }
}

/// The immutable parse result shared by copies of a `ChatTemplate`.
private final class Program: @unchecked Sendable {
    let root: FrameBody
    let locator: SourceLocator
    init(root: FrameBody, locator: SourceLocator) {
        self.root = root
        self.locator = locator
    }
}
