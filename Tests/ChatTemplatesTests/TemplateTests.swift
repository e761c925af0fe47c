import XCTest
@testable import ChatTemplates
final class TemplatePlaceholderTests: XCTestCase { func testModuleBuilds() {} }
