//! The date behind `strftime_now(fmt)`.
//!
//! transformers passes `datetime.now().strftime` to templates (Llama 3.x
//! prints "Today Date: 26 Jul 2024"). The library has no clock of its own:
//! `SystemTime::now` panics on wasm32-unknown-unknown, and a prompt that
//! silently changes with the wall clock is hard to test. The caller passes
//! the date in [`super::RenderOptions::now`].

use crate::{NavajaError, Result};

/// A calendar date and time of day (no time zone), as Python's naive
/// `datetime` formats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatDateTime {
    year: i32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

impl ChatDateTime {
    /// Checks the fields (year 1..=9999 like Python, a real day of that month).
    pub fn new(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Result<Self> {
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour < 24
            && minute < 60
            && second < 60;
        if !valid {
            return Err(NavajaError::invalid(format!(
                "not a valid date: {year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"
            )));
        }
        Ok(ChatDateTime { year, month, day, hour, minute, second })
    }

    /// The UTC date and time of a Unix timestamp in seconds (JS: `Date.now() / 1000`).
    pub fn from_unix_seconds(secs: i64) -> Result<Self> {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let year =
            i32::try_from(year).map_err(|_| NavajaError::invalid(format!("timestamp {secs} is out of range")))?;
        ChatDateTime::new(year, month, day, (rem / 3600) as u8, (rem / 60 % 60) as u8, (rem % 60) as u8)
    }

    /// 0 = Monday, like Python's `weekday()`.
    fn weekday(&self) -> usize {
        // 1970-01-01 was a Thursday (3).
        (days_from_civil(self.year as i64, self.month, self.day) + 3).rem_euclid(7) as usize
    }

    fn day_of_year(&self) -> i64 {
        days_from_civil(self.year as i64, self.month, self.day) - days_from_civil(self.year as i64, 1, 1) + 1
    }

    /// Python's `strftime` in the C locale for the directives templates use;
    /// glibc's `%-d` style (no padding) is accepted too. An unknown directive
    /// is an error rather than a guess.
    pub fn strftime(&self, fmt: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let mut spec = chars.next().ok_or("format ends with a lone '%'")?;
            let pad = spec != '-';
            if !pad {
                spec = chars.next().ok_or("format ends with '%-'")?;
            }
            let num = |v: i64, width: usize| if pad { format!("{v:0width$}") } else { v.to_string() };
            let hour12 = match self.hour % 12 {
                0 => 12,
                h => h,
            };
            let text = match spec {
                'Y' => self.year.to_string(),
                'y' => num(self.year as i64 % 100, 2),
                'm' => num(self.month as i64, 2),
                'd' => num(self.day as i64, 2),
                'e' => format!("{:2}", self.day),
                'H' => num(self.hour as i64, 2),
                'I' => num(hour12 as i64, 2),
                'M' => num(self.minute as i64, 2),
                'S' => num(self.second as i64, 2),
                'j' => num(self.day_of_year(), 3),
                'p' => if self.hour < 12 { "AM" } else { "PM" }.to_owned(),
                'B' => MONTHS[self.month as usize - 1].to_owned(),
                'b' | 'h' => MONTHS[self.month as usize - 1][..3].to_owned(),
                'A' => WEEKDAYS[self.weekday()].to_owned(),
                'a' => WEEKDAYS[self.weekday()][..3].to_owned(),
                'u' => (self.weekday() + 1).to_string(),
                'w' => ((self.weekday() + 1) % 7).to_string(),
                'F' => format!("{:04}-{:02}-{:02}", self.year, self.month, self.day),
                'T' => format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second),
                // A naive datetime has no zone: Python prints nothing.
                'Z' | 'z' => String::new(),
                '%' => "%".to_owned(),
                other => return Err(format!("strftime directive %{other} is not supported")),
            };
            out.push_str(&text);
        }
        Ok(out)
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (eras of 400 years).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_to_civil() {
        let d = ChatDateTime::from_unix_seconds(0).unwrap();
        assert_eq!(d, ChatDateTime::new(1970, 1, 1, 0, 0, 0).unwrap());
        // 2024-07-26 13:05:09 UTC, a Friday.
        let d = ChatDateTime::from_unix_seconds(1_721_999_109).unwrap();
        assert_eq!(d, ChatDateTime::new(2024, 7, 26, 13, 5, 9).unwrap());
        assert_eq!(d.strftime("%d %b %Y").unwrap(), "26 Jul 2024");
        assert_eq!(d.strftime("%A %a %-m/%-d/%y %I:%M %p %j %%").unwrap(), "Friday Fri 7/26/24 01:05 PM 208 %");
        let leap = ChatDateTime::from_unix_seconds(951_782_400).unwrap(); // 2000-02-29
        assert_eq!(leap.strftime("%F %T %u %w").unwrap(), "2000-02-29 00:00:00 2 2");
    }

    #[test]
    fn bad_dates_and_directives_are_errors() {
        assert!(ChatDateTime::new(2023, 2, 29, 0, 0, 0).is_err());
        assert!(ChatDateTime::new(2024, 13, 1, 0, 0, 0).is_err());
        let d = ChatDateTime::new(2024, 2, 29, 0, 0, 0).unwrap();
        assert!(d.strftime("%Q").is_err());
        assert!(d.strftime("50%").is_err());
        assert!(ChatDateTime::from_unix_seconds(i64::MAX).is_err());
    }
}
