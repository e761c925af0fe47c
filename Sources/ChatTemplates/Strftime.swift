// transformers' `strftime_now(format)`: Python's `datetime.now().strftime(format)` in the C locale,
// with an injectable clock so renders can be made deterministic.

import Foundation

/// Where `strftime_now` gets the current time from (Python's naive local time).
public struct TemplateClock: Sendable {
    /// The current instant.
    public var now: @Sendable () -> Date
    /// The zone the instant is shown in (Python's `datetime.now()` uses the local zone).
    public var timeZone: TimeZone

    public init(now: @escaping @Sendable () -> Date, timeZone: TimeZone) {
        self.now = now
        self.timeZone = timeZone
    }

    /// The machine's clock and time zone.
    public static var system: TemplateClock { TemplateClock(now: { Date() }, timeZone: .current) }

    /// A clock stopped at the given local wall time (e.g. to reproduce a fixture).
    public static func fixed(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) -> TemplateClock {
        let zone = TimeZone(secondsFromGMT: 0)!
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let date = calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))!
        return TemplateClock(now: { date }, timeZone: zone)
    }
}

private let weekdayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
private let monthNames = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                          "October", "November", "December"]

/// C-locale `strftime` of the clock's current time: %a %A %b %h %B %c %C %d %D %e %F %H %I %j %m
/// %M %n %p %R %S %t %T %u %w %x %X %y %Y %z %Z %%, with glibc's `-` flag (no padding); other
/// directives are copied through.
func strftime(_ format: String, clock: TemplateClock) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = clock.timeZone
    let date = clock.now()
    let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday, .nanosecond], from: date)
    let year = c.year!, month = c.month!, day = c.day!, hour = c.hour!, minute = c.minute!, second = c.second!
    let weekday = c.weekday! - 1  // 0 = Sunday
    let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
    let offset = clock.timeZone.secondsFromGMT(for: date)

    func number(_ value: Int, _ width: Int, _ padding: Character?) -> String {
        let digits = String(value)
        guard let padding, digits.count < width else { return digits }
        return String(repeating: padding, count: width - digits.count) + digits
    }

    var out = ""
    var scalars = format.unicodeScalars.makeIterator()
    while let s = scalars.next() {
        guard s == "%" else { out.unicodeScalars.append(s); continue }
        guard var d = scalars.next() else { out += "%"; break }
        var padding: Character? = "0"
        if d == "-" {
            padding = nil
            guard let next = scalars.next() else { out += "%-"; break }
            d = next
        }
        let hour12 = hour % 12 == 0 ? 12 : hour % 12
        switch d {
        case "a": out += String(weekdayNames[weekday].prefix(3))
        case "A": out += weekdayNames[weekday]
        case "b", "h": out += String(monthNames[month - 1].prefix(3))
        case "B": out += monthNames[month - 1]
        case "c":
            out += "\(weekdayNames[weekday].prefix(3)) \(monthNames[month - 1].prefix(3)) \(number(day, 2, " ")) "
                + "\(number(hour, 2, "0")):\(number(minute, 2, "0")):\(number(second, 2, "0")) \(year)"
        case "C": out += number(year / 100, 2, padding)
        case "d": out += number(day, 2, padding)
        case "D", "x": out += "\(number(month, 2, "0"))/\(number(day, 2, "0"))/\(number(year % 100, 2, "0"))"
        case "e": out += number(day, 2, padding == nil ? nil : " ")
        case "F": out += "\(number(year, 4, "0"))-\(number(month, 2, "0"))-\(number(day, 2, "0"))"
        case "H": out += number(hour, 2, padding)
        case "I": out += number(hour12, 2, padding)
        case "j": out += number(dayOfYear, 3, padding)
        case "m": out += number(month, 2, padding)
        case "M": out += number(minute, 2, padding)
        case "n": out += "\n"
        case "p": out += hour < 12 ? "AM" : "PM"
        case "R": out += "\(number(hour, 2, "0")):\(number(minute, 2, "0"))"
        case "S": out += number(second, 2, padding)
        case "t": out += "\t"
        case "T", "X": out += "\(number(hour, 2, "0")):\(number(minute, 2, "0")):\(number(second, 2, "0"))"
        case "u": out += String(weekday == 0 ? 7 : weekday)
        case "w": out += String(weekday)
        case "y": out += number(year % 100, 2, padding)
        case "Y": out += String(year)
        case "z":
            let sign = offset < 0 ? "-" : "+"
            out += sign + number(abs(offset) / 3600, 2, "0") + number(abs(offset) % 3600 / 60, 2, "0")
        case "Z": out += clock.timeZone.abbreviation(for: date) ?? ""
        case "%": out += "%"
        default:
            out += "%" + (padding == nil ? "-" : "") + String(d)
        }
    }
    return out
}
