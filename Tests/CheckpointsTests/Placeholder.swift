import XCTest
@testable import Checkpoints
final class CheckpointsPlaceholderTests: XCTestCase { func testModuleBuilds() {} }
