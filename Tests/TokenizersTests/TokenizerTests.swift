import XCTest
@testable import Tokenizers
final class TokenizerPlaceholderTests: XCTestCase { func testModuleBuilds() {} }
