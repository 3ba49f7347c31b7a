"""Pure domain: types, rules, scoring and schedules. No I/O; time is passed in."""
